/**
 * Memory follows the batch, not one text's length (issue 18.5): a real process embeds one
 * 38M-character text with the tiny model, and its peak RSS stays under 1 GB (tokenizing the whole
 * text took 3.8 GB). The vector must still be what the model makes of the text's first window of
 * tokens: the same as for a 16,000-character prefix, which is tokenized whole.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, TINY_MODEL } from './helpers/cli.js';

const LIBRARY = path.join(REPO, 'dist/index.js');
const GB = 1024 ** 3;

// Run by `node --input-type=module`: the library as a batch job would use it.
const CHILD = `
const { createEmbedder } = await import(process.argv[1]);
const sentence = 'the quick brown fox jumps over the lazy dog ';
const text = sentence.repeat(Math.ceil(38_000_000 / sentence.length));
const embedder = await createEmbedder({ model: process.argv[2], allowRemoteModels: false });
const [long] = await embedder.embed([text]);
const [prefix] = await embedder.embed([text.slice(0, 16_000)]);
await embedder.dispose();
console.log(JSON.stringify({ chars: text.length, maxRssBytes: process.resourceUsage().maxRSS * 1024, long: Array.from(long), prefix: Array.from(prefix) }));
`;

interface ChildResult {
  chars: number;
  maxRssBytes: number;
  long: number[];
  prefix: number[];
}

function embedInChild(model: string): ChildResult {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, LIBRARY, model], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(out.trim().split('\n').pop() as string) as ChildResult;
}

describe('embedding one 38M-character text', () => {
  const dirs: string[] = [];

  beforeAll(() => {
    if (!fs.existsSync(LIBRARY)) throw new Error(`${LIBRARY} is missing: run npm run build first`);
  });

  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('peaks under 1 GB RSS and gives the vector of the text’s first 512 tokens', () => {
    const result = embedInChild(TINY_MODEL);
    expect(result.chars).toBeGreaterThanOrEqual(38_000_000);
    expect(result.maxRssBytes).toBeLessThan(GB);
    expect(result.long).toEqual(result.prefix);
  });

  it('does so with a sentence-transformers max_seq_length too', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-memory-'));
    dirs.push(dir);
    fs.cpSync(TINY_MODEL, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 128, do_lower_case: false }));
    const result = embedInChild(dir);
    expect(result.maxRssBytes).toBeLessThan(GB);
    expect(result.long).toEqual(result.prefix);
  });
});
