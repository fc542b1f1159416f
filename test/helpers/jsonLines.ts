import type { Readable } from 'node:stream';

/**
 * Calls `fn` with every JSON line of a child's stdout as it arrives, synchronously, so a test can
 * signal the child at a known line. A line split across chunks is joined first; other lines are skipped.
 */
export function onJsonLines<T = Record<string, unknown>>(stream: Readable, fn: (line: T) => void): void {
  let buffered = '';
  stream.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) if (l.trim().startsWith('{')) fn(JSON.parse(l) as T);
  });
}
