import type { LinAlg } from './linalg.js';

/**
 * Q_kept U, where Q_kept's columns are mostly zero in one half (columns of Q1 or Q2 not mixed by a
 * deflating rotation): each half of the rows is multiplied only by the columns non-zero there,
 * about half the multiply-adds of the dense product.
 */
export async function blockProduct(
  q: Float64Array,
  m: number,
  n1: number,
  kept: readonly number[],
  hasTop: Uint8Array,
  hasBottom: Uint8Array,
  u: Float64Array,
  cols: number,
  la: LinAlg,
): Promise<Float64Array> {
  const out = new Float64Array(m * cols);
  for (const [from, to, flags] of [
    [0, n1, hasTop],
    [n1, m, hasBottom],
  ] as const) {
    const rows = to - from;
    const idx: number[] = [];
    kept.forEach((c, i) => {
      if (flags[c]) idx.push(i);
    });
    if (idx.length === 0 || rows === 0) continue;
    const a = new Float64Array(rows * idx.length);
    const b = new Float64Array(idx.length * cols);
    const qCols = idx.map((i) => kept[i]!);
    for (let r = 0; r < rows; r++) {
      const qOff = (from + r) * m;
      for (let t = 0; t < qCols.length; t++) a[r * qCols.length + t] = q[qOff + qCols[t]!]!;
    }
    idx.forEach((i, t) => b.set(u.subarray(i * cols, (i + 1) * cols), t * cols));
    const part = await la.gemm({ data: a, rows, cols: idx.length }, { data: b, rows: idx.length, cols });
    out.set(part, from * cols);
  }
  return out;
}
