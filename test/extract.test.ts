import { describe, expect, it } from 'vitest';
import { extractEntry } from '../src/transform/extract.js';
import { rowId, sha256Hex } from '../src/transform/rowId.js';

describe('extractEntry', () => {
  it('takes the text from text, page_content or content, in that order, and keeps the rest as metadata', () => {
    expect(extractEntry({ id: 'a', text: 'one', page_content: 'two' }, 0)).toEqual({ kind: 'text', text: 'one', metadata: { id: 'a', page_content: 'two' }, warnings: [] });
    expect(extractEntry({ id: 'b', page_content: 'two' }, 1)).toEqual({ kind: 'text', text: 'two', metadata: { id: 'b' }, warnings: [] });
    expect(extractEntry({ id: 'c', content: 'three', n: [1, { x: null }] }, 2)).toEqual({ kind: 'text', text: 'three', metadata: { id: 'c', n: [1, { x: null }] }, warnings: [] });
  });

  it('falls through to page_content when text is not a string, with a warning naming the entry, and keeps the non-string text in the metadata', () => {
    const r = extractEntry({ text: null, page_content: 'p' }, 0);
    expect(r).toEqual({ kind: 'text', text: 'p', metadata: { text: null }, warnings: ['entry 0: text is null, not a string; took the text from page_content and kept text in the metadata'] });
    expect(extractEntry({ text: 7, page_content: { a: 1 }, content: 'c' }, 4)).toMatchObject({
      text: 'c',
      metadata: { text: 7, page_content: { a: 1 } },
      warnings: ['entry 4: text is a number, page_content is an object, not a string; took the text from content and kept text and page_content in the metadata'],
    });
    // An older entry without a text key at all is not worth a warning.
    expect(extractEntry({ page_content: 'p' }, 1)).toMatchObject({ text: 'p', warnings: [] });
  });

  it('keeps __proto__, constructor and prototype as ordinary metadata keys at every depth', () => {
    const entry = JSON.parse('{"text": "t", "__proto__": {"__proto__": {"x": 1}, "constructor": 2}, "prototype": [{"__proto__": "s"}], "constructor": {"prototype": null}}') as Record<string, unknown>;
    const r = extractEntry(entry, 0);
    expect(r.kind).toBe('text');
    if (r.kind !== 'text') return;
    expect(Object.getPrototypeOf(r.metadata)).toBe(Object.prototype);
    expect(JSON.stringify(r.metadata)).toBe('{"__proto__":{"__proto__":{"x":1},"constructor":2},"prototype":[{"__proto__":"s"}],"constructor":{"prototype":null}}');
  });

  it('skips an empty or missing text with its index', () => {
    expect(extractEntry({ id: 'd', text: '' }, 3)).toEqual({ kind: 'skip', reason: 'entry 3 has an empty text' });
    expect(extractEntry({ id: 'e' }, 4)).toMatchObject({ kind: 'skip', reason: expect.stringContaining('entry 4 has no text') });
    expect(extractEntry({ text: 42 }, 5)).toMatchObject({ kind: 'skip', reason: 'entry 5 has a non-string text' });
  });

  it('keeps every character byte-for-byte except U+0000, which is removed with a warning', () => {
    const tricky = 'emoji 🚀 CJK 漢字 RTL שלום tab\there\nnewline backslash \\ quote " end  ';
    expect(extractEntry({ text: tricky }, 0)).toEqual({ kind: 'text', text: tricky, metadata: {}, warnings: [] });
    const r = extractEntry({ text: 'a\u0000b\u0000', tag: 'x\u0000' }, 7);
    expect(r.kind).toBe('text');
    if (r.kind !== 'text') return;
    expect(r.text).toBe('ab');
    expect(r.metadata).toEqual({ tag: 'x' });
    expect(r.warnings).toEqual([
      'entry 7 text: removed 2 U+0000 characters (PostgreSQL cannot store them)',
      'entry 7 metadata: removed 1 U+0000 character (PostgreSQL cannot store them)',
    ]);
  });

  it('skips a text that held only U+0000', () => {
    expect(extractEntry({ text: '\u0000' }, 9)).toEqual({ kind: 'skip', reason: 'entry 9 has an empty text' });
  });

  it('replaces unpaired surrogates, which UTF-8 cannot carry, with a warning', () => {
    const r = extractEntry({ text: 'a\ud800b' }, 0);
    expect(r).toMatchObject({ kind: 'text', text: 'a\ufffdb', warnings: [expect.stringContaining('unpaired UTF-16 surrogates')] });
  });
});

describe('rowId', () => {
  it('is a deterministic UUID v5 of user, collection, index and text hash', () => {
    const h = sha256Hex('hello');
    expect(h).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    const id = rowId('alice', 'notes', 3, h);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(rowId('alice', 'notes', 3, h)).toBe(id);
    expect(rowId('alice', 'notes', 4, h)).not.toBe(id);
    expect(rowId('bob', 'notes', 3, h)).not.toBe(id);
    expect(rowId('alice', 'notes2', 3, h)).not.toBe(id);
    expect(rowId('alice', 'notes', 3, sha256Hex('hello!'))).not.toBe(id);
  });
});
