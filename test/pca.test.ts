import { describe, it, expect } from 'vitest';
import { PCA } from 'ml-pca';
import onnxProto from 'onnx-proto';
import { MigrateError } from '../src/errors.js';
import {
  createProjector,
  explainedVarianceRatio,
  fitPca,
  parsePcaModel,
  projectOne,
  recallAtK,
  serializePcaModel,
  type PcaEngine,
  type PcaModel,
} from '../src/transform/pca/index.js';
import { encodeModel } from '../src/transform/pca/onnxGraph.js';
import { seededRandom } from '../src/transform/random.js';

const ENGINES: readonly PcaEngine[] = ['js', 'onnxruntime'];

// Deterministic synthetic data ------------------------------------------------------------------

const rng = seededRandom;

function gaussian(next: () => number): () => number {
  return () => {
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** Rows of independent N(0, scale_j^2) coordinates, rotated by a random orthonormal basis, plus an offset. */
function correlatedRows(n: number, d: number, scales: readonly number[], seed: number, offset = 0.3): Float64Array[] {
  const g = gaussian(rng(seed));
  const basis = randomOrthonormal(d, scales.length, g);
  const shift = Float64Array.from({ length: d }, () => offset * g());
  const rows: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = Float64Array.from(shift);
    scales.forEach((s, j) => {
      const c = s * g();
      const b = basis[j]!;
      for (let t = 0; t < d; t++) row[t]! += c * b[t]!;
    });
    rows.push(row);
  }
  return rows;
}

/** r orthonormal vectors in R^d (Gram-Schmidt of Gaussian draws). */
function randomOrthonormal(d: number, r: number, g: () => number): Float64Array[] {
  const out: Float64Array[] = [];
  while (out.length < r) {
    const v = Float64Array.from({ length: d }, () => g());
    for (let pass = 0; pass < 2; pass++) {
      for (const b of out) {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += v[t]! * b[t]!;
        for (let t = 0; t < d; t++) v[t]! -= dot * b[t]!;
      }
    }
    let n2 = 0;
    for (let t = 0; t < d; t++) n2 += v[t]! * v[t]!;
    const inv = 1 / Math.sqrt(n2);
    for (let t = 0; t < d; t++) v[t]! *= inv;
    out.push(v);
  }
  return out;
}

function toF32(rows: readonly Float64Array[]): Float32Array[] {
  return rows.map((r) => Float32Array.from(r));
}


function component(model: PcaModel, j: number): Float32Array {
  const d = model.sourceDimensions;
  return model.components.subarray(j * d, (j + 1) * d);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** max |C C^T - I| over the model's components. */
function orthonormalityError(model: PcaModel): number {
  let worst = 0;
  for (let i = 0; i < model.targetDimensions; i++) {
    for (let j = 0; j <= i; j++) worst = Math.max(worst, Math.abs(dot(component(model, i), component(model, j)) - (i === j ? 1 : 0)));
  }
  return worst;
}

/**
 * Rows whose sample covariance is known exactly: centred latent columns made orthogonal with norm
 * sqrt(n-1) * scale_j, mixed into d dimensions by an orthonormal basis, plus Gaussian noise.
 */
function exactSpectrumRows(n: number, d: number, scales: readonly number[], noise: number, seed: number): Float64Array[] {
  const g = gaussian(rng(seed));
  const latent: Float64Array[] = [];
  for (const s of scales) {
    const col = Float64Array.from({ length: n }, () => g());
    for (let pass = 0; pass < 2; pass++) {
      const m = col.reduce((a, b) => a + b, 0) / n;
      for (let i = 0; i < n; i++) col[i]! -= m;
      for (const prev of latent) {
        const p = dot(col, prev) / dot(prev, prev);
        for (let i = 0; i < n; i++) col[i]! -= p * prev[i]!;
      }
    }
    const f = (s * Math.sqrt(n - 1)) / Math.sqrt(dot(col, col));
    latent.push(col.map((x) => x * f));
  }
  const basis = randomOrthonormal(d, scales.length, g);
  const offset = Float64Array.from({ length: d }, () => g());
  return Array.from({ length: n }, (_, i) => {
    const row = Float64Array.from(offset, (x) => x + noise * g());
    latent.forEach((col, j) => {
      const b = basis[j]!;
      for (let t = 0; t < d; t++) row[t]! += col[i]! * b[t]!;
    });
    return row;
  });
}

async function expectMigrateError(promise: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MigrateError);
  expect((caught as MigrateError).code).toBe(code);
  expect((caught as MigrateError).message).toMatch(message);
}

describe('fitPca matches ml-pca', () => {
  const cases = [
    { n: 200, d: 30, label: '200 x 30 (covariance route)' },
    { n: 60, d: 40, label: '60 x 40 (covariance route)' },
    { n: 40, d: 60, label: '40 x 60, n < d (Gram route)' },
  ];
  for (const engine of ENGINES) {
    for (const { n, d, label } of cases) {
      it(`${label}, ${engine}`, async () => {
        const scales = Array.from({ length: d }, (_, j) => Math.pow(0.8, j));
        const rows = correlatedRows(n, d, scales, n + d);
        const k = Math.min(d, n - 1);
        // Small panels, so the blocked reduction and merged back-transformation run several blocks.
        const model = await fitPca(rows, k, { engine, blockSize: 8 });
        const ref = new PCA(rows.map((r) => Array.from(r)));
        const U = ref.getEigenvectors();
        const S = ref.getEigenvalues();
        expect(model.targetDimensions).toBe(k);
        expect(model.method).toBe(n <= d ? 'gram-eigh' : 'covariance-eigh');
        for (let j = 0; j < k; j++) {
          const c = component(model, j);
          const refCol = Array.from({ length: d }, (_, i) => U.get(i, j));
          const sign = Math.sign(dot(c, refCol));
          for (let i = 0; i < d; i++) expect(Math.abs(c[i]! - sign * refCol[i]!)).toBeLessThan(1e-5);
          expect(Math.abs(model.explainedVariance[j]! - S[j]!)).toBeLessThan(1e-10 * S[0]!);
        }
        const refTotal = S.reduce((a, b) => a + b, 0);
        expect(model.totalVariance).toBeCloseTo(refTotal, 10);
        const means = ref.toJSON().means;
        for (let i = 0; i < d; i++) expect(model.mean[i]).toBeCloseTo(means[i]!, 6);
      });
    }
  }

  it('both engines give the same model on a multi-panel problem', async () => {
    const d = 100;
    const rows = toF32(correlatedRows(300, d, Array.from({ length: d }, (_, j) => Math.pow(0.9, j)), 3));
    const a = await fitPca(rows, 60, { engine: 'js', blockSize: 5 });
    const b = await fitPca(rows, 60, { engine: 'onnxruntime', blockSize: 5 });
    expect(b.targetDimensions).toBe(60);
    for (let i = 0; i < a.components.length; i++) expect(Math.abs(a.components[i]! - b.components[i]!)).toBeLessThan(1e-5);
    for (let j = 0; j < 60; j++) expect(b.explainedVariance[j]).toBeCloseTo(a.explainedVariance[j]!, 12);
  });
});

describe('fitPca on structured data', () => {
  const n = 400;
  const d = 64;
  const scales = [5, 4, 3, 2.5, 2, 1.5, 1, 0.5];
  const rows = toF32(exactSpectrumRows(n, d, scales, 1e-4, 42));
  const total = scales.reduce((a, s) => a + s * s, 0);

  it('at K >= rank keeps ~all variance and ~all neighbours', async () => {
    for (const K of [scales.length, 20]) {
      const model = await fitPca(rows, K);
      expect(model.targetDimensions).toBe(K);
      expect(explainedVarianceRatio(model)).toBeGreaterThan(0.99999);
      const reduced = rows.map((r) => projectOne(model, r));
      const queries = Array.from({ length: 40 }, (_, i) => i * 10);
      expect(recallAtK(rows, reduced, queries, 10)).toBeGreaterThan(0.99);
      expect(orthonormalityError(model)).toBeLessThan(1e-5);
    }
  });

  it('at K < rank explains the sum of the kept eigenvalues over the total', async () => {
    for (const K of [1, 3, 6]) {
      const model = await fitPca(rows, K);
      const kept = scales.slice(0, K).reduce((a, s) => a + s * s, 0);
      expect(explainedVarianceRatio(model)).toBeCloseTo(kept / total, 5);
      // The 1e-4 noise (and float32 rounding) move each eigenvalue by ~1e-4 * s; far below 1e-5 of the total.
      scales.slice(0, K).forEach((s, j) => expect(Math.abs(model.explainedVariance[j]! - s * s)).toBeLessThan(1e-5 * total));
    }
  });

  it('handles exactly repeated eigenvalues (an orthonormal basis of the degenerate subspace)', async () => {
    const degenerate = [3, 2, 2, 2, 1, 1];
    const data = toF32(exactSpectrumRows(300, 40, degenerate, 0, 9));
    for (const engine of ENGINES) {
      const model = await fitPca(data, 6, { engine, blockSize: 4 });
      expect(orthonormalityError(model)).toBeLessThan(1e-5);
      degenerate.forEach((s, j) => expect(model.explainedVariance[j]).toBeCloseTo(s * s, 4));
      expect(explainedVarianceRatio(model)).toBeCloseTo(1, 6);
    }
  });

  it('is deterministic and follows the sign convention', async () => {
    const a = await fitPca(rows, 10, { engine: 'onnxruntime' });
    const b = await fitPca(rows, 10, { engine: 'onnxruntime' });
    expect(serializePcaModel(a).equals(serializePcaModel(b))).toBe(true);
    for (let j = 0; j < a.targetDimensions; j++) {
      const c = component(a, j);
      let best = 0;
      for (let i = 1; i < c.length; i++) if (Math.abs(c[i]!) > Math.abs(c[best]!)) best = i;
      expect(c[best]!).toBeGreaterThan(0);
    }
  });
});

describe('samples with fewer directions than the target', () => {
  it('a sample of 116 vectors fitted for 2000 dimensions keeps the 115 measured directions', async () => {
    const d = 3072;
    const g = gaussian(rng(116));
    const rows = Array.from({ length: 116 }, () => Float32Array.from({ length: d }, () => g() * 0.02 + 0.01));
    const model = await fitPca(rows, 2000);
    expect(model.targetDimensions).toBe(115);
    expect(model.method).toBe('gram-eigh');
    expect(model.notes.join('\n')).toMatch(/target reduced from 2000 to 115.*116 vectors spans at most 115 directions/);
    expect(model.components.length).toBe(115 * d);
    expect(orthonormalityError(model)).toBeLessThan(1e-5);
    // Every sample vector lies in the span of the kept directions around the mean: nothing is lost.
    expect(explainedVarianceRatio(model)).toBeCloseTo(1, 6);
    const p0 = projectOne(model, rows[0]!);
    const p1 = projectOne(model, rows[1]!);
    let full = 0;
    for (let i = 0; i < d; i++) full += (rows[0]![i]! - rows[1]![i]!) ** 2;
    let reduced = 0;
    for (let j = 0; j < 115; j++) reduced += (p0[j]! - p1[j]!) ** 2;
    expect(Math.sqrt(reduced)).toBeCloseTo(Math.sqrt(full), 4);
  });

  it('exactly low-rank data is cut to its numerical rank, with a note', async () => {
    const rows = exactSpectrumRows(200, 40, [3, 2, 1, 0.5, 0.25], 0, 5);
    const model = await fitPca(rows, 20);
    expect(model.targetDimensions).toBe(5);
    expect(model.notes.join('\n')).toMatch(/target reduced from 20 to 5: only 5 directions have variance above 1e-10/);
    expect(explainedVarianceRatio(model)).toBeCloseTo(1, 8);
  });

  it('a full-rank sample keeps the requested target and writes no rank note', async () => {
    const rows = correlatedRows(80, 20, Array.from({ length: 20 }, () => 1), 8);
    const model = await fitPca(rows, 20);
    expect(model.targetDimensions).toBe(20);
    expect(model.notes).toEqual([]);
    expect(explainedVarianceRatio(model)).toBeCloseTo(1, 10);
  });
});

describe('projection', () => {
  it('a batch equals projectOne per vector', async () => {
    const d = 300;
    const rows = toF32(correlatedRows(700, d, Array.from({ length: 60 }, (_, j) => 1 / (1 + j)), 77, 0.8));
    const model = await fitPca(rows, 48);
    const vectors = [...rows.slice(0, 150), ...correlatedRows(20, d, [1, 1], 99)];
    for (const engine of ENGINES) {
      const projector = createProjector(model, { engine, batchSize: 64 });
      const batch = await projector.project(vectors);
      await projector.dispose();
      expect(batch).toHaveLength(vectors.length);
      batch.forEach((p, i) => {
        const one = projectOne(model, vectors[i]!);
        expect(p).toHaveLength(48);
        for (let j = 0; j < 48; j++) expect(Math.abs(p[j]! - one[j]!)).toBeLessThan(1e-5);
      });
    }
  });

  it('rejects vectors of the wrong size or with non-finite values', async () => {
    const model = await fitPca(correlatedRows(50, 10, [1, 0.5, 0.2], 1), 3);
    await expectMigrateError(() => projectOne(model, new Float32Array(9)), 'E_DIM_MISMATCH', /the vector has 9 dimensions; the PCA model projects 10/);
    const bad = new Float32Array(10);
    bad[4] = Number.NaN;
    await expectMigrateError(() => projectOne(model, bad), 'E_VECTOR', /the vector holds a non-finite value \(NaN\) at dimension 4/);
    for (const engine of ENGINES) {
      const projector = createProjector(model, { engine });
      await expectMigrateError(projector.project([new Float32Array(10), bad]), 'E_VECTOR', /vector 1 holds a non-finite value/);
      await expectMigrateError(projector.project([new Float64Array(11)]), 'E_DIM_MISMATCH', /vector 0 has 11 dimensions/);
      expect(await projector.project([])).toEqual([]);
      await projector.dispose();
    }
  });
});

describe('serialization', () => {
  it('round-trips exactly', async () => {
    const model = await fitPca(correlatedRows(90, 24, Array.from({ length: 24 }, (_, j) => 0.9 ** j), 12), 10);
    model.notes.push('a note with "quotes", unicode ✓ and\nnewlines');
    const bytes = serializePcaModel(model);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('PGVMPCA\n');
    const back = parsePcaModel(new Uint8Array(bytes));
    expect(back.sourceDimensions).toBe(model.sourceDimensions);
    expect(back.targetDimensions).toBe(model.targetDimensions);
    expect(back.totalVariance).toBe(model.totalVariance);
    expect(back.sampleSize).toBe(model.sampleSize);
    expect(back.method).toBe(model.method);
    expect(back.notes).toEqual(model.notes);
    expect(back.mean).toBeInstanceOf(Float32Array);
    expect(back.components).toBeInstanceOf(Float32Array);
    expect(back.explainedVariance).toBeInstanceOf(Float64Array);
    const same = (a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    expect(same(back.mean, model.mean)).toBe(true);
    expect(same(back.components, model.components)).toBe(true);
    expect(same(back.explainedVariance, model.explainedVariance)).toBe(true);
    expect(serializePcaModel(back).equals(bytes)).toBe(true);
    // Parsing must not depend on the buffer's alignment in memory.
    const shifted = Buffer.alloc(bytes.length + 3);
    bytes.copy(shifted, 3);
    expect(serializePcaModel(parsePcaModel(shifted.subarray(3))).equals(bytes)).toBe(true);
  });

  it('rejects damaged files', async () => {
    const bytes = serializePcaModel(await fitPca(correlatedRows(30, 6, [1, 1, 1], 2), 3));
    await expectMigrateError(() => parsePcaModel(Buffer.from('hello world, not a model')), 'E_CONFIG', /signature/);
    await expectMigrateError(() => parsePcaModel(bytes.subarray(0, bytes.length - 8)), 'E_CONFIG', /checksum|outside/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1]! ^= 1;
    await expectMigrateError(() => parsePcaModel(flipped), 'E_CONFIG', /checksum/);
    const header = Buffer.from(bytes);
    header.write('{"format":"nope"', 12, 'utf8');
    await expectMigrateError(() => parsePcaModel(header), 'E_CONFIG', /not a valid PCA model file/);
  });
});

describe('invalid input', () => {
  const good = correlatedRows(10, 4, [1, 1], 1);

  it('rejects bad samples and targets with clear errors', async () => {
    await expectMigrateError(fitPca([], 2), 'E_USAGE', /sample is empty/);
    await expectMigrateError(fitPca({ rows: 0, cols: 4, data: new Float32Array(0) }, 2), 'E_USAGE', /sample is empty/);
    await expectMigrateError(fitPca([good[0]!], 2), 'E_USAGE', /at least 2 are needed/);
    await expectMigrateError(fitPca([...good, new Float64Array(5)], 2), 'E_VECTOR', /ragged: vector 10 has 5 dimensions, vector 0 has 4/);
    await expectMigrateError(fitPca([new Float32Array(0), new Float32Array(0)], 1), 'E_VECTOR', /vector 0 is empty/);
    const nan = good.map((r) => Float64Array.from(r));
    nan[3]![2] = Number.NaN;
    await expectMigrateError(fitPca(nan, 2), 'E_VECTOR', /vector 3 holds a non-finite value \(NaN\) at dimension 2/);
    const inf = toF32(good);
    inf[7]![0] = Number.POSITIVE_INFINITY;
    await expectMigrateError(fitPca(inf, 2), 'E_VECTOR', /vector 7 holds a non-finite value \(Infinity\)/);
    await expectMigrateError(fitPca(good, 5), 'E_USAGE', /target dimensions \(5\) exceed the source dimensions \(4\)/);
    await expectMigrateError(fitPca(good, 0), 'E_USAGE', /positive integer/);
    await expectMigrateError(fitPca(good, 1.5), 'E_USAGE', /positive integer/);
    await expectMigrateError(fitPca({ rows: 3, cols: 4, data: new Float32Array(11) }, 2), 'E_USAGE', /holds 11 values, its shape 3 x 4 needs 12/);
    const same = Array.from({ length: 5 }, () => Float32Array.from([1, 2, 3]));
    await expectMigrateError(fitPca(same, 2), 'E_VECTOR', /no variance: all 5 vectors are identical/);
  });
});

describe('recallAtK and explainedVarianceRatio', () => {
  const rows = toF32(correlatedRows(120, 16, Array.from({ length: 16 }, (_, j) => 0.8 ** j), 4));

  it('is 1 for the same space and drops when the space is scrambled', () => {
    const queries = [0, 5, 17, 99];
    expect(recallAtK(rows, rows, queries, 10)).toBe(1);
    expect(recallAtK(rows, rows, queries, 10, 'cosine')).toBe(1);
    const scrambled = rows.map((_, i) => rows[(i * 37) % rows.length]!);
    expect(recallAtK(rows, scrambled, queries, 10)).toBeLessThan(0.5);
    expect(recallAtK(rows, rows, { full: rows.slice(0, 3), reduced: rows.slice(0, 3) }, 5)).toBe(1);
  });

  it('measures a real reduction', async () => {
    const model = await fitPca(rows, 4);
    const reduced = rows.map((r) => projectOne(model, r));
    const r4 = recallAtK(rows, reduced, [1, 2, 3, 4, 5, 6, 7, 8], 10);
    expect(r4).toBeGreaterThan(0.3);
    expect(r4).toBeLessThanOrEqual(1);
    const ratio = explainedVarianceRatio(model);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(1);
  });

  it('rejects mismatched inputs', async () => {
    await expectMigrateError(() => recallAtK(rows, rows.slice(1), [0]), 'E_USAGE', /same corpus/);
    await expectMigrateError(() => recallAtK(rows, rows, [500]), 'E_USAGE', /outside the corpus/);
    await expectMigrateError(() => recallAtK(rows, rows, []), 'E_USAGE', /at least one query/);
  });
});

describe('ONNX graph encoding', () => {
  it('produces a model onnx-proto decodes to the intended graph', () => {
    const bytes = encodeModel({
      elemType: 'float64',
      inputs: [
        { name: 'A', rank: 2 },
        { name: 'B', rank: 2 },
      ],
      outputs: [{ name: 'Y', rank: 2 }],
      nodes: [{ op: 'Gemm', inputs: ['A', 'B'], outputs: ['Y'], attrs: { transA: { int: 1 }, alpha: { float: -1 } } }],
    });
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    expect(Number(model.irVersion)).toBe(8);
    expect(Number(model.opsetImport[0]?.version)).toBe(17);
    const node = model.graph?.node?.[0];
    expect(node?.opType).toBe('Gemm');
    expect(node?.input).toEqual(['A', 'B']);
    const attrs = Object.fromEntries((node?.attribute ?? []).map((a) => [a.name, a.type === 2 ? Number(a.i) : a.f]));
    expect(attrs).toEqual({ transA: 1, alpha: -1 });
    const input = model.graph?.input?.[0]?.type?.tensorType;
    expect(input?.elemType).toBe(11);
    expect(input?.shape?.dim).toHaveLength(2);
  });
});
