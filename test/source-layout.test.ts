/**
 * --layout patterns and --user ownership of third-party stores (source/layout.ts,
 * source/formatDiscover.ts) on copies of real stores: which directories become whose stores,
 * under which collection names, and what is refused.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMigrateConfig } from '../src/config.js';
import { MigrateError } from '../src/errors.js';
import { discoverFormatStores } from '../src/source/formatDiscover.js';
import { parseLayout, sanitizeName } from '../src/source/layout.js';
import type { DiscoveryEvent } from '../src/source/types.js';
import { SHARED_TESTDATA } from './helpers/paths.js';

const REAL = path.join(SHARED_TESTDATA, 'real-stores');
const FAISS = path.join(REAL, 'faiss/007kakashi__FAQ_llm/faiss_index');
const CHROMA = path.join(REAL, 'chroma/103Seeker__ai-doc-chatbot/chroma_db');

async function events(root: string, options: Parameters<typeof discoverFormatStores>[1]): Promise<DiscoveryEvent[]> {
  const out: DiscoveryEvent[] = [];
  for await (const e of discoverFormatStores(root, options)) out.push(e);
  return out;
}

function stores(list: DiscoveryEvent[]): string[] {
  return list.flatMap((e) => (e.kind === 'store' ? [`${e.store.userId}/${e.store.collection}:${e.store.format?.reader.format ?? 'simple'}`] : []));
}

describe('parseLayout', () => {
  it('accepts literal segments, {user} and {collection}', () => {
    expect(parseLayout('tenants/{user}/storage').segments).toEqual([{ kind: 'literal', name: 'tenants' }, { kind: 'user' }, { kind: 'literal', name: 'storage' }]);
    expect(parseLayout('{user}/{collection}').segments).toEqual([{ kind: 'user' }, { kind: 'collection' }]);
  });
  it.each(['../{user}', '/data/{user}', 'a/../../{user}', '{user}//x', './{user}', 'u_{user}', '{user}/{user}', '{owner}'])('refuses %s with E_USAGE', (pattern) => {
    expect(() => parseLayout(pattern)).toThrow(MigrateError);
    try {
      parseLayout(pattern);
    } catch (e) {
      expect((e as MigrateError).code).toBe('E_USAGE');
    }
  });
  it('config refuses --user with a {user} layout, and a layout without an owner', () => {
    const build = (flags: Record<string, string>) => buildMigrateConfig('/tmp/root', { ...flags, backup: false }, {}, '/', new Date());
    expect(() => build({ owner: 'alice', layout: '{user}/x' })).toThrow(/both name the owner/);
    expect(() => build({ layout: 'x/{collection}' })).toThrow(/has no \{user\}/);
    expect(() => build({ owner: 'a b' })).toThrow(/not a sanitized user id/);
    expect(() => build({ source: 'pinecone' })).toThrow(/--source must be one of/);
    expect(build({ owner: 'alice', source: 'faiss' }).source).toEqual({ format: 'faiss', owner: 'alice', layout: null });
  });
});

describe('sanitizeName', () => {
  it('keeps letters, digits, . - _ and collapses the rest', () => {
    expect(sanitizeName('faiss_store/abc.pdf')).toBe('faiss_store_abc.pdf');
    expect(sanitizeName('  My Docs!! ')).toBe('My_Docs');
    expect(sanitizeName('___')).toBeNull();
  });
});

describe('discoverFormatStores', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'pgvm-layout-'));
    cpSync(FAISS, path.join(root, 'alice', 'faiss_index'), { recursive: true });
    cpSync(FAISS, path.join(root, 'bob', 'faiss_store', 'abc.pdf'), { recursive: true });
    cpSync(CHROMA, path.join(root, 'bob', 'chroma_db'), { recursive: true });
    cpSync(FAISS, path.join(root, 'Bad User', 'faiss_index'), { recursive: true });
    mkdirSync(path.join(root, 'carol'));
    symlinkSync(path.join(root, 'alice', 'faiss_index'), path.join(root, 'carol', 'faiss_index'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('--user: every store under the root, named by its path; links are not followed', async () => {
    const list = await events(root, { format: 'auto', owner: 'zoe', layout: null });
    expect(stores(list)).toEqual(['zoe/Bad_User_faiss_index:faiss', 'zoe/alice_faiss_index:faiss', 'zoe/bob_chroma_db.API_Git:chroma', 'zoe/bob_faiss_store_abc.pdf:faiss']);
    expect(list.some((e) => e.kind === 'skipped' && e.code === 'E_PATH' && e.path.endsWith(path.join('carol', 'faiss_index')))).toBe(true);
  });

  it('--layout {user}/faiss_index: owners from directory names, never guessed', async () => {
    const list = await events(root, { format: 'auto', owner: null, layout: parseLayout('{user}/faiss_index') });
    expect(stores(list)).toEqual(['alice/faiss_index:faiss']);
    expect(list.some((e) => e.kind === 'skipped' && e.reason.includes('not a sanitized user id'))).toBe(true);
  });

  it('--layout {user}/{collection} with --source chroma reads only Chroma stores', async () => {
    const list = await events(root, { format: 'chroma', owner: null, layout: parseLayout('{user}/{collection}') });
    expect(stores(list)).toEqual(['bob/chroma_db.API_Git:chroma']);
  });

  it('--users filters owners', async () => {
    const list = await events(root, { format: 'auto', owner: null, layout: parseLayout('{user}/{collection}'), users: ['bob'] });
    expect(stores(list)).toEqual(['bob/chroma_db.API_Git:chroma']);
  });

  it('a directory holding two formats is one failed store naming both', async () => {
    const both = mkdtempSync(path.join(tmpdir(), 'pgvm-both-'));
    try {
      cpSync(FAISS, both, { recursive: true });
      cpSync(CHROMA, both, { recursive: true });
      const [event] = await events(both, { format: 'auto', owner: 'alice', layout: null });
      expect(event?.kind).toBe('unreadable');
      expect(event?.kind === 'unreadable' ? `${event.code} ${event.reason}` : '').toMatch(/^E_FORMAT .*faiss and chroma/);
      expect(stores(await events(both, { format: 'faiss', owner: 'alice', layout: null }))).toEqual([`alice/${path.basename(both).replace(/[^A-Za-z0-9._-]+/g, '_')}:faiss`]);
    } finally {
      rmSync(both, { recursive: true, force: true });
    }
  });
});
