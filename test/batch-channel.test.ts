/** The hand-over between a store writer's `write` calls and the driver's COPY (sink/batchChannel.ts). */
import { describe, expect, it } from 'vitest';
import { BatchChannel } from '../src/sink/batchChannel.js';

describe('BatchChannel', () => {
  it('resolves a push only once the consumer asks for the next batch, then ends on close', async () => {
    const channel = new BatchChannel<number>();
    const events: string[] = [];
    const pushed = channel.push(1).then(() => events.push('push 1 done'));
    const first = await channel.next();
    events.push(`took ${String(first.value)}`);
    // The consumer holds batch 1: the writer is still waiting.
    await Promise.resolve();
    expect(events).toEqual(['took 1']);
    const second = channel.next();
    await pushed;
    expect(events).toEqual(['took 1', 'push 1 done']);
    channel.close();
    expect(await second).toEqual({ done: true, value: undefined });
  });

  it('fails the pending pull with the given error, and refuses pushes after the end', async () => {
    const channel = new BatchChannel<number>();
    const pull = channel.next();
    channel.fail(new Error('aborted'));
    await expect(pull).rejects.toThrow('aborted');
    await expect(channel.push(2)).rejects.toThrow('push after end');
  });

  it('lets a waiting writer go when the consumer stops early', async () => {
    const channel = new BatchChannel<number>();
    const collected: number[] = [];
    const consumer = (async () => {
      for await (const n of channel) {
        collected.push(n);
        break;
      }
    })();
    await channel.push(1);
    await consumer;
    expect(collected).toEqual([1]);
    await expect(channel.push(2)).rejects.toThrow('push after end');
  });
});
