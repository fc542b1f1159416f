import { describe, expect, it } from 'vitest';
import { fitReduction, measureQuality, padModel } from '../src/transform/pcaFit.js';
import { Reservoir, seededRandom } from '../src/transform/random.js';
import { checkTableMatches, planReduction, type ReductionInputs } from '../src/transform/reduction.js';
import { keptSpace, serializeSpace, truncatedSpace, truncationOf } from '../src/transform/embeddingSpace.js';
import { measureTruncation, truncateForSearch } from '../src/transform/truncate.js';
import { keepingStored, truncating } from '../src/transform/vectorize.js';

const base: ReductionInputs = { sourceDimensions: 3072, mode: 'auto', dimensions: null, pgvectorVersion: '0.8.0', activePca: null, refit: false };
const plan = (over: Partial<ReductionInputs>) => planReduction({ ...base, ...over });

describe('planReduction', () => {
  it('auto: nothing under the limit, halfvec up to 4000 on pgvector >= 0.7, PCA to 2000 otherwise', () => {
    expect(plan({ sourceDimensions: 384 })).toEqual({ method: 'none', vectorType: 'vector', sourceDimensions: 384, dimensions: 384 });
    expect(plan({ sourceDimensions: 2000 })).toMatchObject({ method: 'none', dimensions: 2000 });
    expect(plan({})).toEqual({ method: 'halfvec', vectorType: 'halfvec', sourceDimensions: 3072, dimensions: 3072 });
    expect(plan({ pgvectorVersion: '0.6.2' })).toMatchObject({ method: 'pca', dimensions: 2000, model: 'fit' });
    expect(plan({ pgvectorVersion: '0.10.0' })).toMatchObject({ method: 'halfvec' });
    expect(plan({ sourceDimensions: 4096 })).toMatchObject({ method: 'pca', dimensions: 2000 });
    expect(plan({ sourceDimensions: 768, dimensions: 256 })).toMatchObject({ method: 'pca', sourceDimensions: 768, dimensions: 256 });
  });

  it('pca, halfvec and none do what they say or refuse up front', () => {
    expect(plan({ mode: 'pca' })).toMatchObject({ method: 'pca', dimensions: 2000 });
    expect(plan({ mode: 'pca', dimensions: 512 })).toMatchObject({ method: 'pca', dimensions: 512 });
    expect(() => plan({ mode: 'pca', sourceDimensions: 384 })).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/--dimensions/) }));
    expect(() => plan({ mode: 'pca', dimensions: 3072 })).toThrow(/does not reduce/);
    expect(() => plan({ mode: 'pca', sourceDimensions: 8000, dimensions: 2500 })).toThrow(/index limit/);
    expect(() => plan({ mode: 'none' })).toThrow(expect.objectContaining({ code: 'E_DIM_MISMATCH' }));
    expect(plan({ mode: 'none', sourceDimensions: 1536 })).toMatchObject({ method: 'none' });
    expect(() => plan({ mode: 'halfvec', sourceDimensions: 5000 })).toThrow(/4000/);
    expect(() => plan({ mode: 'halfvec', pgvectorVersion: '0.5.1' })).toThrow(/0\.7\.0/);
    expect(() => plan({ mode: 'halfvec', dimensions: 100 })).toThrow(/--dimensions/);
  });

  it("keeps the table's PCA model unless --refit-pca, and refuses what would mix spaces", () => {
    const activePca = { id: 'm1', sourceDimensions: 3072, targetDimensions: 1024 };
    expect(plan({ activePca })).toEqual({ method: 'pca', vectorType: 'vector', sourceDimensions: 3072, dimensions: 1024, model: 'reuse' });
    expect(plan({ activePca, mode: 'pca' })).toMatchObject({ model: 'reuse', dimensions: 1024 });
    expect(() => plan({ activePca, mode: 'halfvec' })).toThrow(/mix two spaces/);
    expect(() => plan({ activePca, sourceDimensions: 1536 })).toThrow(expect.objectContaining({ code: 'E_DIM_MISMATCH' }));
    expect(() => plan({ activePca, dimensions: 512 })).toThrow(/--refit-pca/);
    expect(plan({ activePca, refit: true, mode: 'pca', dimensions: 1024 })).toMatchObject({ model: 'fit', dimensions: 1024 });
    // A refit stays in the table's column: PCA to the same dimension, even under --reduce auto.
    expect(plan({ activePca, refit: true })).toEqual({ method: 'pca', vectorType: 'vector', sourceDimensions: 3072, dimensions: 1024, model: 'fit' });
    expect(() => plan({ activePca, refit: true, mode: 'halfvec' })).toThrow(/another --table/);
    expect(() => plan({ activePca, refit: true, dimensions: 512 })).toThrow(/another --table/);
  });

  it('truncate: the first 2000 numbers over the limit, or --dimensions; refuses what it cannot do', () => {
    expect(plan({ mode: 'truncate' })).toEqual({ method: 'truncate', vectorType: 'vector', sourceDimensions: 3072, dimensions: 2000 });
    expect(plan({ mode: 'truncate', sourceDimensions: 768, dimensions: 256 })).toEqual({ method: 'truncate', vectorType: 'vector', sourceDimensions: 768, dimensions: 256 });
    expect(() => plan({ mode: 'truncate', sourceDimensions: 1536 })).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/--dimensions N/) }));
    expect(() => plan({ mode: 'truncate', dimensions: 3072 })).toThrow(/does not reduce/);
    expect(() => plan({ mode: 'truncate', sourceDimensions: 8000, dimensions: 2500 })).toThrow(/index limit/);
    const activePca = { id: 'm1', sourceDimensions: 3072, targetDimensions: 2000 };
    expect(() => plan({ activePca, mode: 'truncate' })).toThrow(/mix two spaces/);
    expect(() => plan({ activePca, refit: true, mode: 'truncate' })).toThrow(/another --table/);
  });

  it('checkTableMatches refuses a table of another type or dimension', () => {
    const p = plan({});
    expect(() => checkTableMatches(p, 't', { exists: false, dimensions: null, vectorType: null })).not.toThrow();
    expect(() => checkTableMatches(p, 't', { exists: true, dimensions: 3072, vectorType: 'halfvec' })).not.toThrow();
    expect(() => checkTableMatches(p, 't', { exists: true, dimensions: 3072, vectorType: 'vector' })).toThrow(/halfvec\(3072\)/);
    expect(() => checkTableMatches(p, 't', { exists: true, dimensions: 2000, vectorType: 'halfvec' })).toThrow(expect.objectContaining({ code: 'E_DIM_MISMATCH' }));
  });

  it('names the flags that produce the table\'s column: a table relayout re-typed or shortened', () => {
    const plain = plan({ sourceDimensions: 384 });
    expect(() => checkTableMatches(plain, 't', { exists: true, dimensions: 384, vectorType: 'halfvec' })).toThrow(/holds halfvec\(384\) .*pass --reduce halfvec/);
    expect(() => checkTableMatches(plain, 't', { exists: true, dimensions: 128, vectorType: 'vector' })).toThrow(/--reduce truncate --dimensions 128 or --reduce pca --dimensions 128/);
    // Longer than the vectors: no reduction makes them, only another table.
    expect(() => checkTableMatches(plain, 't', { exists: true, dimensions: 768, vectorType: 'vector' })).toThrow(/use another --table or the settings/);
  });
});

describe('Reservoir', () => {
  it('keeps at most `size` items, every item with equal probability', () => {
    const counts = new Array<number>(100).fill(0);
    for (let trial = 0; trial < 2000; trial++) {
      const r = new Reservoir<number>(10, seededRandom(trial));
      for (let i = 0; i < 100; i++) r.offer(i);
      expect(r.items).toHaveLength(10);
      expect(r.seen).toBe(100);
      for (const i of r.items) counts[i] = (counts[i] ?? 0) + 1;
    }
    // Each item is expected 200 times (2000 trials x 10/100); binomial sd ~ 13.4, so +-70 is > 5 sd.
    for (const c of counts) expect(Math.abs(c - 200)).toBeLessThan(70);
  });
});

/**
 * Vectors whose coordinates along an orthonormal basis have known variances (theory to compare with).
 * With `pairs`, each vector is followed by its negation, so the sample mean is exactly zero and the
 * mean-centring of the projection changes no angle: cosine neighbours are then preserved exactly
 * when the target is at least the rank. With `signs`, coordinates are +-sqrt(variance): every vector
 * has the same norm, so the unit-length scaling the fit applies first leaves the spectrum's shares as they are.
 */
function structured(n: number, d: number, variances: number[], noise: number, seed: number, pairs = false, signs = false): Float32Array[] {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  // Orthonormal basis: the first variances.length coordinate axes, permuted by a fixed rotation-free shuffle.
  const axes = Array.from({ length: d }, (_, i) => i).sort((a, b) => ((a * 7919) % d) - ((b * 7919) % d));
  const one = () => {
    const v = new Float32Array(d);
    variances.forEach((s2, r) => (v[axes[r] ?? 0] = Math.sqrt(s2) * (signs ? (random() < 0.5 ? -1 : 1) : gauss())));
    if (noise > 0) for (let j = 0; j < d; j++) v[j] = (v[j] ?? 0) + noise * gauss();
    return v;
  };
  if (!pairs) return Array.from({ length: n }, one);
  return Array.from({ length: n / 2 }, one).flatMap((v) => [v, v.map((x) => -x)]);
}

describe('fitReduction on structured data: the figures are what theory says', () => {
  it('rank-r data reduced to K >= r keeps all variance and every neighbour', async () => {
    // 600 vectors in +- pairs: the 540 fitted (and the 60 held out) have a mean of exactly zero.
    const data = structured(600, 64, [16, 9, 4, 1], 0, 1, true);
    const fitted = await fitReduction(data, 8);
    expect(fitted.quality.evaluation).toBe('held-out');
    expect(fitted.quality.evaluationRows).toBe(60);
    expect(fitted.quality.explainedVariance).toBeCloseTo(1, 6);
    expect(fitted.quality.recallAt10).toBe(1);
    expect(fitted.model.targetDimensions).toBe(8);
    expect(fitted.model.notes.join(' ')).toMatch(/only 4 directions/);
  });

  it('K < r keeps the top-K share of the variance', async () => {
    const data = structured(6000, 32, [16, 9, 4, 1], 0, 2, false, true);
    const fitted = await fitReduction(data, 2);
    const theory = (16 + 9) / (16 + 9 + 4 + 1);
    // Sample variances of 5400 random-sign draws are within a few percent of their true values.
    expect(fitted.quality.explainedVariance).toBeGreaterThan(theory - 0.02);
    expect(fitted.quality.explainedVariance).toBeLessThan(theory + 0.02);
  });

  it('K < r loses neighbours, and more components lose fewer', async () => {
    const data = structured(3000, 32, [16, 9, 4, 1], 0.05, 5);
    const recall = async (k: number) => (await fitReduction(data, k)).quality.recallAt10 ?? 0;
    const [r1, r2, r4] = [await recall(1), await recall(2), await recall(4)];
    expect(r1).toBeLessThan(r2);
    expect(r2).toBeLessThan(r4);
    expect(r4).toBeGreaterThan(0.9);
  });

  it('small samples are evaluated in-sample, and the quality is recomputable from the model alone', async () => {
    const data = structured(50, 16, [4, 2, 1], 0.01, 3);
    const fitted = await fitReduction(data, 3);
    expect(fitted.quality.evaluation).toBe('in-sample');
    expect(fitted.model.notes.join(' ')).toMatch(/too small to hold vectors out/);
    expect(measureQuality(fitted.model, fitted.evaluation, 'in-sample')).toEqual(fitted.quality);
  });

  it('padModel adds zero components and keeps the projection of the real ones', async () => {
    const data = structured(40, 12, [3, 2], 0, 4);
    const fitted = await fitReduction(data, 2);
    const padded = padModel(fitted.model, 5);
    expect(padded.targetDimensions).toBe(5);
    expect(Array.from(padded.components.slice(2 * 12))).toEqual(new Array(3 * 12).fill(0));
    expect(Array.from(padded.components.slice(0, 2 * 12))).toEqual(Array.from(fitted.model.components));
  });

  it('refuses an empty sample', async () => {
    await expect(fitReduction([], 2)).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});

describe('truncation', () => {
  it('keeps the first n numbers scaled to unit length, at load time and query time alike', async () => {
    const v = Float32Array.from([3, 4, 12, 0]);
    expect(Array.from(truncateForSearch(v, 2))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(truncateForSearch(new Float32Array(4), 2))).toEqual([0, 0]);
    const vectorizer = truncating(keepingStored('stored', 4), 2);
    expect(vectorizer.dimensions).toBe(2);
    const [out] = await vectorizer.vectors([{ index: 0, text: 't', vector: v }]);
    expect(Array.from(out ?? [])).toEqual(Array.from(truncateForSearch(v, 2)));
    // The space records it, and query/verify read it back from there.
    const fp = serializeSpace(truncatedSpace(keptSpace('stored', 4, 'vector'), 2));
    expect(JSON.parse(fp)).toMatchObject({ reduction: 'truncate', sourceDimensions: 4, dimensions: 2, kept: true });
    expect(truncationOf(fp)).toEqual({ sourceDimensions: 4, dimensions: 2 });
    expect(truncationOf(serializeSpace(keptSpace('stored', 4, 'vector')))).toBeNull();
    expect(truncationOf(null)).toBeNull();
    expect(truncationOf('not json')).toBeNull();
  });

  it('measures the squared norm kept and the neighbours kept', () => {
    // All of every vector's norm in its first 3 numbers: nothing is lost, every neighbour kept.
    const random = seededRandom(7);
    const head = Array.from({ length: 50 }, () => Float32Array.from([random() - 0.5, random() - 0.5, random() - 0.5, 0, 0, 0]));
    expect(measureTruncation(head, 3)).toEqual({ explainedVariance: 1, recallAt10: 1, evaluation: 'held-out', evaluationRows: 50 });
    // [1, 1, 1, 1] keeps half of its squared norm in 2 numbers, [1, 0, 0, 1] a half too, [0, 0, 1, 1] none.
    const q = measureTruncation([Float32Array.from([1, 1, 1, 1]), Float32Array.from([1, 0, 0, 1]), Float32Array.from([0, 0, 1, 1]), new Float32Array(4)], 2);
    expect(q.explainedVariance).toBeCloseTo((0.5 + 0.5 + 0) / 3, 12);
    // Neighbours decided only by the dropped numbers are lost: recall falls below 1.
    const tail = Array.from({ length: 50 }, () => Float32Array.from([1, random() - 0.5, random() - 0.5, random() - 0.5]));
    expect(measureTruncation(tail, 1).recallAt10).toBeLessThan(0.5);
    expect(measureTruncation([Float32Array.from([1, 2])], 1).recallAt10).toBeNull();
  });
});
