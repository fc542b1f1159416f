import type { Embedder } from './embedder.js';

/** How close a dtype's vectors are to the model's fp32 vectors on the same texts. */
export interface DtypeQuality {
  dtype: string;
  against: 'fp32';
  sampleSize: number;
  meanCosine: number;
  minCosine: number;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  // Two zero vectors are the same vector; one zero vector against another is as far as it gets.
  return na === 0 || nb === 0 ? (na === nb ? 1 : 0) : dot / Math.sqrt(na * nb);
}

/** Cosine of each text's vector from `embedder` against the fp32 model's, computed in doubles. */
export async function compareWithFp32(embedder: Embedder, fp32: Embedder, texts: readonly string[], batchSize: number): Promise<DtypeQuality> {
  const dtype = embedder.identity.dtype ?? 'fp32';
  if (texts.length === 0) return { dtype, against: 'fp32', sampleSize: 0, meanCosine: 1, minCosine: 1 };
  const [mine, reference] = [await embedder.embed(texts, { batchSize }), await fp32.embed(texts, { batchSize })];
  const cosines = mine.map((v, i) => cosine(v, reference[i] as Float32Array));
  return { dtype, against: 'fp32', sampleSize: texts.length, meanCosine: cosines.reduce((a, b) => a + b, 0) / cosines.length, minCosine: Math.min(...cosines) };
}
