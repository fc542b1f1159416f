import { MigrateError, toMigrateError } from '../../errors.js';
import { openLinAlg } from './engine.js';
import type { ConstantProduct, LinAlg } from './linalg.js';
import type { PcaModel, Projector, ProjectorOptions, Vector } from './types.js';

const DEFAULT_BATCH = 1024;

/** `label` names the vector in messages: 'the vector' for a single query, 'vector 17' in a batch. */
function checkVector(model: PcaModel, v: Vector, label: string): void {
  if (v.length !== model.sourceDimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `${label} has ${v.length} dimensions; the PCA model projects ${model.sourceDimensions}-dimension vectors`,
    );
  }
}

function nonFinite(label: string, dim: number, value: number): MigrateError {
  return new MigrateError('E_VECTOR', `${label} holds a non-finite value (${value}) at dimension ${dim}`);
}

/**
 * One vector in plain JavaScript with float64 accumulation: for query embeddings, where starting
 * a native session would cost more than the k x d multiply-adds.
 */
export function projectOne(model: PcaModel, v: Vector): Float32Array {
  checkVector(model, v, 'the vector');
  const d = model.sourceDimensions;
  const { mean, components } = model;
  const centred = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) throw nonFinite('the vector', i, x);
    centred[i] = x - mean[i]!;
  }
  const out = new Float32Array(model.targetDimensions);
  for (let j = 0; j < model.targetDimensions; j++) {
    const off = j * d;
    let s0 = 0;
    let s1 = 0;
    let i = 0;
    for (; i + 1 < d; i += 2) {
      s0 += components[off + i]! * centred[i]!;
      s1 += components[off + i + 1]! * centred[i + 1]!;
    }
    if (i < d) s0 += components[off + i]! * centred[i]!;
    out[j] = s0 + s1;
  }
  return out;
}

/**
 * Batched projection for load time: each batch is centred into one float32 matrix and multiplied
 * by the components in a single product (onnxruntime when available). The components stay
 * float32 — the precision they are stored in — and centring happens before the product so a large
 * common mean does not cancel digits inside it.
 */
export function createProjector(model: PcaModel, opts: ProjectorOptions = {}): Projector {
  const d = model.sourceDimensions;
  const k = model.targetDimensions;
  if (model.mean.length !== d || model.components.length !== k * d) {
    throw new MigrateError('E_CONFIG', `PCA model is inconsistent: mean has ${model.mean.length} values, components ${model.components.length}, for ${k} x ${d}`);
  }
  const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH);
  let prepared: Promise<{ la: LinAlg; product: ConstantProduct | null }> | null = null;
  let disposed = false;
  const prepare = (): Promise<{ la: LinAlg; product: ConstantProduct | null }> => {
    prepared ??= openLinAlg(opts.engine ?? 'auto', true, opts.threads).then(async ({ la }) => {
      // In plain JavaScript projectOne's loop is the product already; no need to prepare B.
      if (la.engine === 'js') return { la, product: null };
      try {
        return { la, product: await la.constantProduct({ data: model.components, rows: k, cols: d }) };
      } catch (err) {
        await la.dispose();
        throw toMigrateError(err, 'E_INTERNAL', 'cannot prepare the PCA projection in onnxruntime');
      }
    });
    // A failed preparation is not cached: the next call may try again.
    prepared.catch(() => {
      prepared = null;
    });
    return prepared;
  };

  return {
    async project(vectors: readonly Vector[]): Promise<Float32Array[]> {
      if (disposed) throw new MigrateError('E_INTERNAL', 'PCA projector used after dispose()');
      vectors.forEach((v, i) => checkVector(model, v, `vector ${i}`));
      if (vectors.length === 0) return [];
      const { product } = await prepare();
      if (!product) {
        return vectors.map((v, i) => {
          for (let t = 0; t < d; t++) if (!Number.isFinite(v[t]!)) throw nonFinite(`vector ${i}`, t, v[t]!);
          return projectOne(model, v);
        });
      }
      const out: Float32Array[] = [];
      for (let from = 0; from < vectors.length; from += batchSize) {
        const rows = Math.min(batchSize, vectors.length - from);
        const batch = new Float32Array(rows * d);
        for (let r = 0; r < rows; r++) {
          const v = vectors[from + r]!;
          const off = r * d;
          for (let i = 0; i < d; i++) {
            const x = v[i]!;
            if (!Number.isFinite(x)) throw nonFinite(`vector ${from + r}`, i, x);
            batch[off + i] = x - model.mean[i]!;
          }
        }
        let y: Float32Array;
        try {
          y = await product.multiply({ data: batch, rows, cols: d });
        } catch (err) {
          throw toMigrateError(err, 'E_INTERNAL', `PCA projection of vectors ${from}..${from + rows - 1} failed`);
        }
        for (let r = 0; r < rows; r++) out.push(y.slice(r * k, (r + 1) * k));
      }
      return out;
    },
    async dispose(): Promise<void> {
      disposed = true;
      if (!prepared) return;
      const { la, product } = await prepared;
      await product?.release();
      await la.dispose();
    },
  };
}
