/**
 * Hands batches pushed by a writer to a consumer pulling them as an async iterable (the driver's
 * COPY), one at a time: `push` resolves once the consumer asks for the next batch, i.e. once it is
 * done with this one, so at most one batch is in flight and a slow COPY slows the writer down.
 */
type Pull<T> = { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void };

export class BatchChannel<T> implements AsyncIterable<T>, AsyncIterator<T> {
  #queued: { item: T; taken: () => void } | null = null;
  /** The pusher of the batch the consumer holds, released at its next pull. */
  #held: (() => void) | null = null;
  #pull: Pull<T> | null = null;
  #end: { failed: false } | { failed: true; error: unknown } | null = null;

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  /** Resolves when the consumer is done with `item` (or the channel ended). */
  push(item: T): Promise<void> {
    if (this.#end !== null || this.#queued !== null) return Promise.reject(new Error('BatchChannel: push after end, or before the previous push resolved'));
    return new Promise((resolve) => {
      this.#queued = { item, taken: resolve };
      this.#deliver();
    });
  }

  /** No more batches: the consumer's next pull ends the iteration. */
  close(): void {
    this.#end ??= { failed: false };
    this.#deliver();
  }

  /** The consumer's next pull throws `error` (a COPY then fails instead of committing rows). */
  fail(error: unknown): void {
    this.#end ??= { failed: true, error };
    const queued = this.#queued;
    this.#queued = null;
    queued?.taken();
    this.#deliver();
  }

  next(): Promise<IteratorResult<T>> {
    this.#release();
    return new Promise((resolve, reject) => {
      this.#pull = { resolve, reject };
      this.#deliver();
    });
  }

  /** The consumer stopped early: nothing more is taken, and a waiting pusher is let go. */
  async return(): Promise<IteratorResult<T>> {
    this.#release();
    this.#end ??= { failed: false };
    const queued = this.#queued;
    this.#queued = null;
    queued?.taken();
    return { done: true, value: undefined };
  }

  #release(): void {
    const held = this.#held;
    this.#held = null;
    held?.();
  }

  #deliver(): void {
    const pull = this.#pull;
    if (pull === null) return;
    const queued = this.#queued;
    if (queued !== null) {
      this.#pull = null;
      this.#queued = null;
      this.#held = queued.taken;
      pull.resolve({ done: false, value: queued.item });
    } else if (this.#end !== null) {
      this.#pull = null;
      if (this.#end.failed) pull.reject(this.#end.error);
      else pull.resolve({ done: true, value: undefined });
    }
  }
}
