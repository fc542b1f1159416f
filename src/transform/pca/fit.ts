import { MigrateError, toMigrateError } from '../../errors.js';
import { openLinAlg } from './engine.js';
import type { LinAlg } from './linalg.js';
import { centredBlock, sampleMean, toSample, type Sample } from './sample.js';
import { backTransform, tridiagonalize } from './tridiagonal.js';
import { largestEigenpairs } from './tridiagEigen.js';
import type { FitPcaOptions, PcaModel, PcaStage, SampleInput } from './types.js';

const DEFAULT_RANK_TOLERANCE = 1e-10;
const DEFAULT_CHUNK_ROWS = 2048;
const DEFAULT_BLOCK_SIZE = 64;
/** Below about this many multiply-adds JavaScript finishes before onnxruntime has built its sessions. */
const NATIVE_WORK_THRESHOLD = 3e7;

class StageClock {
  private last = performance.now();
  constructor(private readonly report: ((stage: PcaStage, ms: number) => void) | undefined) {}
  done(stage: PcaStage): void {
    const now = performance.now();
    this.report?.(stage, now - this.last);
    this.last = now;
  }
}

/**
 * Fits a mean-centred PCA with `targetDimensions` components (fewer when the sample's rank is
 * lower; see notes in the result).
 *
 * Route: with more sample vectors than dimensions (the usual 20000 x 3072) the d x d covariance is
 * accumulated in float64 chunk by chunk; with n <= d the n x n Gram matrix of the centred sample
 * has the same non-zero spectrum and is smaller, and components follow as X^T u / sqrt(lambda).
 * Either symmetric matrix goes through a blocked Householder tridiagonalization, divide and conquer
 * for the top eigenpairs of the tridiagonal matrix and a blocked back-transformation.
 */
export async function fitPca(sampleInput: SampleInput, targetDimensions: number, opts: FitPcaOptions = {}): Promise<PcaModel> {
  const clock = new StageClock(opts.onStage);
  const sample = toSample(sampleInput);
  const n = sample.rows;
  const d = sample.cols;
  if (!Number.isInteger(targetDimensions) || targetDimensions < 1) {
    throw new MigrateError('E_USAGE', `PCA target dimensions must be a positive integer, got ${targetDimensions}`);
  }
  if (targetDimensions > d) {
    throw new MigrateError('E_USAGE', `PCA target dimensions (${targetDimensions}) exceed the source dimensions (${d}): nothing to reduce`);
  }
  if (n < 2) throw new MigrateError('E_USAGE', `PCA sample has ${n} vector; at least 2 are needed to measure variance`);
  const rankTolerance = opts.rankTolerance ?? DEFAULT_RANK_TOLERANCE;
  if (!(rankTolerance >= 0 && rankTolerance < 1)) throw new MigrateError('E_USAGE', `PCA rank tolerance must be in [0, 1), got ${rankTolerance}`);
  const mean = sampleMean(sample);
  const totalSquares = sumOfSquares(sample, mean);
  if (totalSquares === 0) throw new MigrateError('E_VECTOR', `PCA sample has no variance: all ${n} vectors are identical`);
  clock.done('validate');

  const route = n <= d ? 'gram' : 'covariance';
  const size = route === 'gram' ? n : d;
  const work = route === 'gram' ? d * n * n + n ** 3 : n * d * d + d ** 3;
  const { la, note: engineNote } = await openLinAlg(opts.engine ?? 'auto', work >= NATIVE_WORK_THRESHOLD, opts.threads);
  const notes: string[] = [];
  if (engineNote) notes.push(engineNote);
  try {
    let centred: Float64Array | null = null;
    let matrix: Float64Array;
    if (route === 'gram') {
      centred = centredBlock(sample, mean, 0, n);
      const x = { data: centred, rows: n, cols: d };
      matrix = await la.gemm(x, x, { transB: true });
    } else {
      matrix = await covariance(sample, mean, la, opts.chunkRows ?? DEFAULT_CHUNK_ROWS);
    }
    symmetrize(matrix, size);
    clock.done(route);

    const tri = await tridiagonalize(matrix, size, la, opts.blockSize ?? DEFAULT_BLOCK_SIZE);
    clock.done('tridiagonalize');

    // Centring spends one degree of freedom: n vectors span at most n-1 directions of variance.
    const wanted = Math.min(targetDimensions, n - 1);
    const top = await largestEigenpairs(tri.diag, tri.off, wanted, la);
    const values = top.values;
    const cutoff = rankTolerance * Math.max(values[0]!, 0);
    let k = 0;
    while (k < wanted && values[k]! > cutoff) k++;
    if (k === 0) throw new MigrateError('E_VECTOR', 'PCA sample has no measurable variance');
    const vectors = k === wanted ? top.vectors : firstColumns(top.vectors, size, wanted, k);
    clock.done('eigenvectors');
    await backTransform(tri, vectors, k, la);
    clock.done('back-transform');

    // Fewer directions than asked for: keep only the measured ones (target reduced to the rank)
    // rather than pad. Zero rows would not be a projection (rows no longer orthonormal, variance
    // figures meaningless). An orthonormal completion would be one, but any basis of the sample's
    // null space fits equally well, so its extra rows would be arbitrary (rounding decides them, a
    // refit changes them) and carry nothing: after centring every sample vector is 0 there, and
    // when the sample is the whole table (the usual reason it is small) a query's L2 distance to
    // every stored vector splits into the kept part plus the same constant (the query's residual),
    // so ranking by the kept coordinates alone is already exact. They would only cost storage and
    // index size.
    if (wanted < targetDimensions) {
      notes.push(
        `target reduced from ${targetDimensions} to ${wanted}: a sample of ${n} vectors spans at most ${plural(n - 1, 'direction')} of variance ` +
          `(centring uses one); further components would be arbitrary directions the sample says nothing about, so the ` +
          `model keeps only what was measured`,
      );
    }
    if (k < wanted) {
      notes.push(
        `target reduced from ${wanted} to ${k}: only ${plural(k, 'direction')} ${k === 1 ? 'has' : 'have'} variance above ${rankTolerance} of the largest ` +
          `(the sample's numerical rank); the rest would be arbitrary directions`,
      );
    }

    const components =
      route === 'gram' && centred ? await gramComponents(centred, n, d, vectors, values, k, la) : transposeColumns(vectors, d, k);
    fixSigns(components, k, d);
    const explainedVariance = new Float64Array(k);
    for (let j = 0; j < k; j++) explainedVariance[j] = values[j]! / (n - 1);
    clock.done('components');
    return {
      sourceDimensions: d,
      targetDimensions: k,
      mean: Float32Array.from(mean),
      components: Float32Array.from(components),
      explainedVariance,
      totalVariance: totalSquares / (n - 1),
      sampleSize: n,
      method: `${route}-eigh`,
      notes,
    };
  } catch (err) {
    // onnxruntime reports plain Errors (allocation failures, kernel errors); callers branch on codes.
    throw toMigrateError(err, 'E_INTERNAL', `PCA fit (${route}, ${la.engine}) failed`);
  } finally {
    await la.dispose();
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function sumOfSquares(sample: Sample, mean: Float64Array): number {
  let total = 0;
  for (let i = 0; i < sample.rows; i++) {
    const r = sample.row(i);
    for (let j = 0; j < sample.cols; j++) {
      const t = r[j]! - mean[j]!;
      total += t * t;
    }
  }
  return total;
}

/** Column-block width of the covariance products (see covariance()). */
const COVARIANCE_BLOCK = 768;

/**
 * X^T X of the centred sample (not yet divided by n-1), summed over row chunks so only one chunk
 * is ever held in float64. Centring before the product, rather than subtracting n mean mean^T
 * afterwards, avoids the cancellation that embeddings' large common mean would cause.
 *
 * The result is symmetric, so the columns are split into blocks and only the products of blocks
 * on or below the diagonal are formed: with 4 blocks that is 10 of 16, 37% fewer multiply-adds in
 * the most expensive stage of the fit.
 */
async function covariance(sample: Sample, mean: Float64Array, la: LinAlg, chunkRows: number): Promise<Float64Array> {
  const d = sample.cols;
  const blockCount = Math.max(1, Math.round(d / COVARIANCE_BLOCK));
  const edges = Array.from({ length: blockCount + 1 }, (_, b) => Math.round((b * d) / blockCount));
  const width = (b: number): number => edges[b + 1]! - edges[b]!;
  const acc = new Map<string, Float64Array>();
  for (let from = 0; from < sample.rows; from += chunkRows) {
    const to = Math.min(sample.rows, from + chunkRows);
    const rows = to - from;
    const blocks = edges.slice(0, -1).map((_, b) => new Float64Array(rows * width(b)));
    for (let i = from; i < to; i++) {
      const r = sample.row(i);
      for (let b = 0; b < blockCount; b++) {
        const lo = edges[b]!;
        const w = width(b);
        const out = blocks[b]!;
        const off = (i - from) * w;
        for (let j = 0; j < w; j++) out[off + j] = r[lo + j]! - mean[lo + j]!;
      }
    }
    for (let bi = 0; bi < blockCount; bi++) {
      for (let bj = 0; bj <= bi; bj++) {
        const key = `${bi},${bj}`;
        const prev = acc.get(key);
        const a = { data: blocks[bi]!, rows, cols: width(bi) };
        const b = { data: blocks[bj]!, rows, cols: width(bj) };
        acc.set(key, await la.gemm(a, b, prev ? { transA: true, c: { data: prev, rows: width(bi), cols: width(bj) } } : { transA: true }));
      }
    }
  }
  const out = new Float64Array(d * d);
  for (let bi = 0; bi < blockCount; bi++) {
    for (let bj = 0; bj <= bi; bj++) {
      const block = acc.get(`${bi},${bj}`)!;
      const wi = width(bi);
      const wj = width(bj);
      for (let r = 0; r < wi; r++) {
        const row = edges[bi]! + r;
        for (let c = 0; c < wj; c++) {
          const col = edges[bj]! + c;
          const x = block[r * wj + c]!;
          out[row * d + col] = x;
          out[col * d + row] = x;
        }
      }
    }
  }
  return out;
}

/** Products may round the two triangles differently; the reduction reads one as the other. */
function symmetrize(a: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (a[i * n + j]! + a[j * n + i]!);
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
}

/** The first k of the `cols` columns of a rows x cols row-major matrix. */
function firstColumns(m: Float64Array, rows: number, cols: number, k: number): Float64Array {
  const out = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) out.set(m.subarray(i * cols, i * cols + k), i * k);
  return out;
}

/** n x k column vectors -> k x n rows. */
function transposeColumns(vectors: Float64Array, n: number, k: number): Float64Array {
  const out = new Float64Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[j * n + i] = vectors[i * k + j]!;
  return out;
}

/** Components from Gram eigenvectors: v_j = X^T u_j / sqrt(lambda_j), as k x d rows. */
async function gramComponents(
  centred: Float64Array,
  n: number,
  d: number,
  u: Float64Array,
  values: Float64Array,
  k: number,
  la: LinAlg,
): Promise<Float64Array> {
  const xtU = await la.gemm({ data: centred, rows: n, cols: d }, { data: u, rows: n, cols: k }, { transA: true }); // d x k
  const out = transposeColumns(xtU, d, k);
  for (let j = 0; j < k; j++) {
    // 1/sqrt(lambda) gives unit length only in exact arithmetic; small lambdas amplify rounding, so
    // measure the length instead.
    let sq = 0;
    for (let i = 0; i < d; i++) sq += out[j * d + i]! ** 2;
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 1 / Math.sqrt(values[j]!);
    for (let i = 0; i < d; i++) out[j * d + i] = out[j * d + i]! * inv;
  }
  return out;
}

/**
 * Eigenvectors are defined up to sign; flipping each so its largest-magnitude entry (the first on
 * a tie) is positive makes the model a function of the sample, so re-fits and every projection
 * of it agree.
 */
function fixSigns(rows: Float64Array, k: number, d: number): void {
  for (let j = 0; j < k; j++) {
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < d; i++) {
      const a = Math.abs(rows[j * d + i]!);
      if (a > bestAbs) {
        bestAbs = a;
        best = i;
      }
    }
    if (rows[j * d + best]! < 0) for (let i = 0; i < d; i++) rows[j * d + i] = -rows[j * d + i]!;
  }
}
