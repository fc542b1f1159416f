/**
 * Length-sorted batching. A transformer pads every text of a batch to the batch's longest, so a
 * batch in source order pays for its longest text on every row: on texts of 20 to 500 tokens that
 * is most of the work. Grouping texts of similar length (sorting a window of texts by token count)
 * and putting the vectors back in source order removes that padding without changing any result.
 */

/** Limits of one padded batch (count x longest length L), besides the number of texts. */
export interface BatchLimits {
  /** count x L: activations and compute grow with it. */
  maxTokens?: number;
  /** count x L²: the attention scores grow with it (memory). */
  maxAttention?: number;
}

/**
 * The positions of `lengths` split into batches of at most `batchSize`, shortest texts first,
 * each batch also within `limits` once padded (a single text over them still gets a batch of its
 * own). Every position appears exactly once; equal lengths keep their source order (a stable
 * sort), so the plan is deterministic.
 */
export function lengthSortedBatches(lengths: readonly number[], batchSize: number, limits: BatchLimits = {}): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, not ${batchSize}`);
  const maxTokens = limits.maxTokens ?? Number.POSITIVE_INFINITY;
  const maxAttention = limits.maxAttention ?? Number.POSITIVE_INFINITY;
  if (!(maxTokens >= 1 && maxAttention >= 1)) throw new RangeError('batch limits must be at least 1');
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const batches: number[][] = [];
  let batch: number[] = [];
  for (const position of order) {
    // Sorted ascending: this text is the longest of the batch if it joins.
    const length = lengths[position] as number;
    const count = batch.length + 1;
    if (batch.length > 0 && (count > batchSize || count * length > maxTokens || count * length * length > maxAttention)) {
      batches.push(batch);
      batch = [];
    }
    batch.push(position);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Runs `run` on each batch of `plan` (positions into `items`) one after another and returns its
 * results in the items' own order.
 */
export async function inPlannedBatches<T, R>(items: readonly T[], plan: readonly (readonly number[])[], run: (batch: T[]) => Promise<R[]>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let placed = 0;
  for (const positions of plan) {
    const results = await run(positions.map((i) => items[i] as T));
    if (results.length !== positions.length) throw new RangeError(`a batch of ${positions.length} gave ${results.length} results`);
    positions.forEach((position, k) => {
      out[position] = results[k] as R;
    });
    placed += positions.length;
  }
  if (placed !== items.length) throw new RangeError(`the batch plan covers ${placed} of ${items.length} items`);
  return out;
}
