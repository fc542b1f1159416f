/**
 * Bounds on what the metadata reader allocates per chunk (peak RSS of keep mode grew with the store
 * because of them; see TEXT_PIECE in src/source/metadata.ts and decodedChunks in fernet.ts).
 * Allocation sizes and buffer reuse are asserted, not timings.
 */
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { PythonBase64Decoder } from '../src/source/base64url.js';
import { StrictUtf8, TEXT_PIECE } from '../src/source/strictUtf8.js';

async function pieces(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  const utf8 = Readable.from(chunks, { objectMode: false }).pipe(new StrictUtf8('test input'));
  for await (const piece of utf8) out.push(piece as string);
  return out;
}

describe('StrictUtf8 pieces', () => {
  it('splits a 1 MB chunk into strings of at most TEXT_PIECE units, same text', async () => {
    // Mixed widths (1, 2, 3 and 4 UTF-8 bytes) so piece boundaries cut characters.
    const text = 'aé€😀'.repeat(100_000);
    const bytes = Buffer.from(text, 'utf8');
    expect(bytes.length).toBeGreaterThanOrEqual(1_000_000);
    const out = await pieces([bytes]);
    expect(out.join('')).toBe(text);
    expect(out.length).toBeGreaterThan(1);
    for (const piece of out) expect(piece.length).toBeLessThanOrEqual(TEXT_PIECE + 3);
  });

  it('still refuses invalid UTF-8 in a later piece', async () => {
    const bad = Buffer.concat([Buffer.alloc(3 * TEXT_PIECE, 0x61), Buffer.from([0xc3, 0x28])]);
    await expect(pieces([bad])).rejects.toThrow(/not valid UTF-8/);
  });
});

describe('PythonBase64Decoder output buffer', () => {
  it('decodes into the buffer it is given, so a file is decoded without a new buffer per chunk', () => {
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const encoded = Buffer.from(data.toString('base64url'));
    const into = Buffer.alloc(PythonBase64Decoder.maxOutput(encoded.length));
    const decoder = new PythonBase64Decoder();
    const out = decoder.update(encoded, into);
    decoder.final();
    expect(out.buffer).toBe(into.buffer);
    expect(out.byteOffset).toBe(into.byteOffset);
    expect(Buffer.compare(out, data)).toBe(0);
  });

  it('allocates when the given buffer is too small', () => {
    const encoded = Buffer.from(Buffer.alloc(300, 7).toString('base64url'));
    const into = Buffer.alloc(10);
    const out = new PythonBase64Decoder().update(encoded, into);
    expect(out.buffer).not.toBe(into.buffer);
    expect(Buffer.compare(out, Buffer.alloc(300, 7))).toBe(0);
  });
});
