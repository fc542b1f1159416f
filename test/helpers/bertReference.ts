/**
 * A BERT encoder written out as plain arithmetic on doubles, from a model's named weights: the
 * reference the generated ONNX graphs are checked against (its math, not its node list).
 */

/** A weight by its PyTorch name (`encoder.layer.0.attention.self.query.weight`), row-major. */
export type Weights = (name: string) => Float32Array;

export interface BertShape {
  hidden: number;
  heads: number;
  layers: number;
  layerNormEps: number;
}

type Matrix = Float64Array[];

/** erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), enough for a 1e-4 comparison. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

function dense(x: Matrix, w: Weights, prefix: string): Matrix {
  const weight = w(`${prefix}.weight`);
  const bias = w(`${prefix}.bias`);
  const fanOut = bias.length;
  const fanIn = weight.length / fanOut;
  return x.map((row) => {
    const out = Float64Array.from(bias);
    for (let i = 0; i < fanIn; i++) {
      const xi = row[i] as number;
      for (let o = 0; o < fanOut; o++) out[o] = (out[o] as number) + xi * (weight[i * fanOut + o] as number);
    }
    return out;
  });
}

function layerNorm(x: Matrix, w: Weights, prefix: string, eps: number): Matrix {
  const gamma = w(`${prefix}.weight`);
  const beta = w(`${prefix}.bias`);
  return x.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
    const scale = 1 / Math.sqrt(variance + eps);
    return row.map((v, i) => (v - mean) * scale * (gamma[i] as number) + (beta[i] as number));
  });
}

const add = (a: Matrix, b: Matrix): Matrix => a.map((row, t) => row.map((v, i) => v + (b[t]?.[i] as number)));

/** Self-attention of one layer: padded positions (mask 0) are never attended to. */
function attention(x: Matrix, w: Weights, prefix: string, mask: readonly number[], shape: BertShape): Matrix {
  const q = dense(x, w, `${prefix}.self.query`);
  const k = dense(x, w, `${prefix}.self.key`);
  const v = dense(x, w, `${prefix}.self.value`);
  const headDim = shape.hidden / shape.heads;
  const context = x.map(() => new Float64Array(shape.hidden));
  for (let h = 0; h < shape.heads; h++) {
    const off = h * headDim;
    for (let i = 0; i < x.length; i++) {
      const scores = k.map((kj, j) => {
        if (mask[j] === 0) return -Infinity;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += (q[i]?.[off + d] as number) * (kj[off + d] as number);
        return dot / Math.sqrt(headDim);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const out = context[i] as Float64Array;
      e.forEach((p, j) => {
        for (let d = 0; d < headDim; d++) out[off + d] = (out[off + d] as number) + (p / sum) * (v[j]?.[off + d] as number);
      });
    }
  }
  return dense(context, w, `${prefix}.output.dense`);
}

/** last_hidden_state of one sequence: [sequence][hidden]. */
export function bertReference(w: Weights, shape: BertShape, inputIds: readonly number[], mask: readonly number[], tokenTypes: readonly number[]): Matrix {
  const word = w('embeddings.word_embeddings.weight');
  const position = w('embeddings.position_embeddings.weight');
  const type = w('embeddings.token_type_embeddings.weight');
  const H = shape.hidden;
  let x: Matrix = inputIds.map((id, t) =>
    Float64Array.from({ length: H }, (_, i) => (word[id * H + i] as number) + (type[(tokenTypes[t] as number) * H + i] as number) + (position[t * H + i] as number)),
  );
  x = layerNorm(x, w, 'embeddings.LayerNorm', shape.layerNormEps);
  for (let l = 0; l < shape.layers; l++) {
    const p = `encoder.layer.${l}`;
    x = layerNorm(add(attention(x, w, `${p}.attention`, mask, shape), x), w, `${p}.attention.output.LayerNorm`, shape.layerNormEps);
    const inner = dense(x, w, `${p}.intermediate.dense`).map((row) => row.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))));
    x = layerNorm(add(dense(inner, w, `${p}.output.dense`), x), w, `${p}.output.LayerNorm`, shape.layerNormEps);
  }
  return x;
}
