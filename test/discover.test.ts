import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { isMigrateError } from '../src/errors.js';
import { discoverStores, isSanitizedUserId, type DiscoverOptions } from '../src/source/discover.js';
import type { DiscoveryEvent, StoreLocation } from '../src/source/types.js';
import { SHARED_STORES } from './helpers/paths.js';

const STORES = SHARED_STORES;
// Discovery reports symlink-resolved paths; shared/ itself may be reached through a link.
const USER_DATA = realpathSync(join(STORES, 'user_data'));
const CASES = JSON.parse(readFileSync(join(STORES, 'CASES.json'), 'utf8')) as { cases: { user: string; collection: string }[] };

async function events(root: string, opts?: DiscoverOptions): Promise<DiscoveryEvent[]> {
  const out: DiscoveryEvent[] = [];
  for await (const e of discoverStores(root, opts)) out.push(e);
  return out;
}

const stores = (es: DiscoveryEvent[]): StoreLocation[] => es.flatMap((e) => (e.kind === 'store' ? [e.store] : []));
const skips = (es: DiscoveryEvent[]): Extract<DiscoveryEvent, { kind: 'skipped' }>[] => es.flatMap((e) => (e.kind === 'skipped' ? [e] : []));
const unreadables = (es: DiscoveryEvent[]): Extract<DiscoveryEvent, { kind: 'unreadable' }>[] => es.flatMap((e) => (e.kind === 'unreadable' ? [e] : []));
const ids = (es: DiscoveryEvent[]): string[] => stores(es).map((s) => `${s.userId}/${s.collection}`);

/** Creates files (content given) and directories (content null) under root. */
function tree(root: string, spec: Record<string, string | null>): void {
  for (const [rel, content] of Object.entries(spec)) {
    const path = join(root, rel);
    if (content === null) {
      mkdirSync(path, { recursive: true });
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
}

const store = (user: string, collection: string): Record<string, string> => ({
  [`${user}/vector_store_${collection}/vectors.pkl`]: 'v',
  [`${user}/vector_store_${collection}/metadata.json`]: '[]',
});

describe('the sanitized user id rule', () => {
  it('accepts exactly what the application writes', () => {
    for (const ok of ['bob', 'mycguo_gmail_com', 'a-b', '-', 'A_1', 'x_-_y', '--a--', '0']) expect({ ok, v: isSanitizedUserId(ok) }).toEqual({ ok, v: true });
    for (const bad of ['', '_', '_a', 'a_', 'a__b', 'a.b', 'a b', 'not a valid id', '.hidden', 'é', 'a@b', 'a/b', 'a\nb', '..']) {
      expect({ bad, v: isSanitizedUserId(bad) }).toEqual({ bad, v: false });
    }
  });
});

describe('discoverStores on the Python-written tree', () => {
  it('finds every store of CASES.json in sorted order and skips the invalid id', async () => {
    const es = await events(USER_DATA);
    const expected = CASES.cases
      .filter((c) => c.user !== 'not a valid id')
      .map((c) => `${c.user}/${c.collection}`)
      .sort();
    expect(ids(es)).toEqual(expected);
    expect(skips(es)).toEqual([
      { kind: 'skipped', path: join(USER_DATA, 'not a valid id'), code: 'E_PATH', reason: expect.stringMatching(/not a sanitized user id/) },
    ]);
    const heidi = stores(es).find((s) => s.userId === 'heidi');
    expect(heidi?.metadataPath).toBeNull();
    expect(heidi?.vectorsPath).toBe(join(USER_DATA, 'heidi/vector_store_personal_assistant/vectors.pkl'));
    const alice = stores(es).find((s) => s.collection === 'notes');
    expect(alice).toEqual({
      userId: 'alice_example_com',
      collection: 'notes',
      dir: join(USER_DATA, 'alice_example_com/vector_store_notes'),
      vectorsPath: join(USER_DATA, 'alice_example_com/vector_store_notes/vectors.pkl'),
      metadataPath: join(USER_DATA, 'alice_example_com/vector_store_notes/metadata.json'),
    });
  });

  it('filters users and reports the requested ones that are not there', async () => {
    const es = await events(USER_DATA, { users: ['erin', 'zed', 'bob', 'a__b', 'bob'] });
    expect(es.map((e) => (e.kind === 'store' ? `store ${e.store.userId}` : `skip ${e.code} ${e.path.slice(USER_DATA.length + 1)}`))).toEqual([
      'skip E_USAGE a__b',
      'store bob',
      'store erin',
      'skip E_USAGE zed',
    ]);
    expect(skips(es)[0]?.reason).toMatch(/not a sanitized user id/);
    expect(skips(es)[1]?.reason).toMatch(/no such directory/);
  });
});

describe('discoverStores on temporary trees', () => {
  let base: string;
  let root: string;
  let outside: string;

  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'pvm-discover-')));
    root = join(base, 'user_data');
    outside = join(base, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    tree(outside, { 'secret.json': '[]', 'vector_store_x/metadata.json': '[]', 'vector_store_x/vectors.pkl': 'v' });
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('refuses a missing root or a file as root with E_USAGE', async () => {
    for (const bad of [join(base, 'nope'), join(outside, 'secret.json')]) {
      try {
        await events(bad);
        expect.unreachable();
      } catch (error) {
        expect(isMigrateError(error) && error.code).toBe('E_USAGE');
        expect((error as Error).message).toMatch(bad.endsWith('nope') ? /does not exist/ : /is not a directory/);
      }
    }
  });

  it('sorts users and collections whatever the creation order, by code unit', async () => {
    for (const [u, c] of [['zed', 'b'], ['Bob', 'x'], ['bob', 'b'], ['bob', 'B'], ['bob', 'a'], ['a-1', 'z'], ['a_1', 'z']] as const) tree(root, store(u, c));
    expect(ids(await events(root))).toEqual(['Bob/x', 'a-1/z', 'a_1/z', 'bob/B', 'bob/a', 'bob/b', 'zed/b']);
  });

  it('skips bad names and non-directories with a reason, and ignores other app data silently', async () => {
    tree(root, {
      ...store('good', 'personal_assistant'),
      'good/interview_data/answers.json': '{}',
      'good/notes.txt': 'x',
      'good/vector_store_/metadata.json': '[]',
      'good/vector_store_file': 'not a dir',
      'a__b/vector_store_x/metadata.json': '[]',
      '_lead/vector_store_x/metadata.json': '[]',
      'trail_/vector_store_x/metadata.json': '[]',
      'dot.ted/vector_store_x/metadata.json': '[]',
      '.DS_Store': '',
      plainfile: 'x',
      'empty_user': null,
    });
    const es = await events(root);
    expect(ids(es)).toEqual(['good/personal_assistant']);
    expect(skips(es).map((s) => [s.path.slice(root.length + 1), s.code])).toEqual([
      ['.DS_Store', 'E_PATH'],
      ['_lead', 'E_PATH'],
      ['a__b', 'E_PATH'],
      ['dot.ted', 'E_PATH'],
      ['good/vector_store_', 'E_PATH'],
      ['good/vector_store_file', 'E_PATH'],
      ['plainfile', 'E_PATH'],
      ['trail_', 'E_PATH'],
    ]);
    const reasons = Object.fromEntries(skips(es).map((s) => [s.path.slice(root.length + 1), s.reason]));
    expect(reasons['good/vector_store_']).toMatch(/empty collection name/);
    expect(reasons['good/vector_store_file']).toMatch(/is a file, not a store directory/);
    expect(reasons.plainfile).toMatch(/is a file, not a user directory/);
  });

  it('reports stores with missing files as stores with null paths (the reader fails them)', async () => {
    tree(root, { 'u/vector_store_none': null, 'u/vector_store_meta/metadata.json': '[]', 'u/vector_store_vec/vectors.pkl': 'v' });
    const found = stores(await events(root));
    expect(found.map((s) => [s.collection, s.vectorsPath !== null, s.metadataPath !== null])).toEqual([
      ['meta', false, true],
      ['none', false, false],
      ['vec', true, false],
    ]);
  });

  it('reports a store whose file is a directory or a FIFO as unreadable (a failure, not a skip)', async () => {
    tree(root, { 'u/vector_store_dir/metadata.json': null, 'u/vector_store_dir/vectors.pkl': 'v', ...store('u', 'ok') });
    const hasMkfifo = spawnSync('mkfifo', [join(root, 'u/vector_store_fifo/vectors.pkl')], { stdio: 'ignore' }).status === 0;
    if (!hasMkfifo) tree(root, { 'u/vector_store_fifo/vectors.pkl': null });
    tree(root, { 'u/vector_store_fifo/metadata.json': '[]' });
    const es = await events(root);
    expect(ids(es)).toEqual(['u/ok']);
    expect(skips(es)).toEqual([]);
    expect(unreadables(es).map((s) => [s.path.slice(root.length + 1), s.code, `${s.store.userId}/${s.store.collection}`, s.store.vectorsPath, s.store.metadataPath])).toEqual([
      ['u/vector_store_dir', 'E_MISSING_FILE', 'u/dir', null, null],
      ['u/vector_store_fifo', 'E_MISSING_FILE', 'u/fifo', null, null],
    ]);
    expect(unreadables(es)[0]?.reason).toMatch(/metadata\.json is a directory, not a regular file/);
    expect(unreadables(es)[1]?.reason).toMatch(hasMkfifo ? /vectors\.pkl is a FIFO/ : /vectors\.pkl is a directory/);
  });

  it('refuses user and store directories that are symlinks, inside or outside the root', async () => {
    tree(root, store('bob', 'personal_assistant'));
    symlinkSync(outside, join(root, 'mallory'));
    symlinkSync(join(root, 'bob'), join(root, 'bob2'));
    symlinkSync(join(outside, 'vector_store_x'), join(root, 'bob', 'vector_store_out'));
    symlinkSync(join(root, 'bob', 'vector_store_personal_assistant'), join(root, 'bob', 'vector_store_alias'));
    symlinkSync(join(base, 'nowhere'), join(root, 'dangling'));
    const es = await events(root);
    expect(ids(es)).toEqual(['bob/personal_assistant']);
    // User links are not stores (skipped); store links are stores the tool saw and refuses (unreadable).
    expect(skips(es).map((s) => s.path.slice(root.length + 1)).sort()).toEqual(['bob2', 'dangling', 'mallory']);
    expect(unreadables(es).map((s) => s.path.slice(root.length + 1)).sort()).toEqual(['bob/vector_store_alias', 'bob/vector_store_out']);
    const byPath = Object.fromEntries([...skips(es), ...unreadables(es)].map((s) => [s.path.slice(root.length + 1), s]));
    expect(Object.keys(byPath).sort()).toEqual(['bob/vector_store_alias', 'bob/vector_store_out', 'bob2', 'dangling', 'mallory']);
    for (const s of Object.values(byPath)) expect(s.code).toBe('E_PATH');
    expect(byPath.mallory?.reason).toMatch(new RegExp(`symbolic link to ${outside}, outside the root`));
    expect(byPath.bob2?.reason).toMatch(/inside the root: following it would load that data under this name/);
    expect(byPath['bob/vector_store_out']?.reason).toMatch(/outside the root/);
    expect(byPath['bob/vector_store_alias']?.reason).toMatch(/inside the root/);
    expect(byPath.dangling?.reason).toMatch(/does not resolve/);
  });

  it('refuses a store whose file links outside the store (outside the root, or to another user), allows links within the store', async () => {
    tree(root, { ...store('alice', 'leak'), ...store('alice', 'cross'), ...store('alice', 'local'), ...store('alice', 'dangle'), ...store('bob', 'b') });
    const leak = join(root, 'alice/vector_store_leak/metadata.json');
    rmSync(leak);
    symlinkSync(join(outside, 'secret.json'), leak);
    const cross = join(root, 'alice/vector_store_cross/vectors.pkl');
    rmSync(cross);
    symlinkSync(join(root, 'bob/vector_store_b/vectors.pkl'), cross);
    const local = join(root, 'alice/vector_store_local/metadata.json');
    writeFileSync(join(root, 'alice/vector_store_local/metadata.v2.json'), '[]');
    rmSync(local);
    symlinkSync('metadata.v2.json', local);
    const dangle = join(root, 'alice/vector_store_dangle/metadata.json');
    rmSync(dangle);
    symlinkSync('gone.json', dangle);

    const es = await events(root);
    expect(ids(es)).toEqual(['alice/local', 'bob/b']);
    expect(stores(es)[0]?.metadataPath).toBe(join(root, 'alice/vector_store_local/metadata.v2.json'));
    expect(skips(es)).toEqual([]);
    const byPath = Object.fromEntries(unreadables(es).map((s) => [s.path.slice(root.length + 1), s]));
    expect(Object.keys(byPath).sort()).toEqual(['alice/vector_store_cross', 'alice/vector_store_dangle', 'alice/vector_store_leak']);
    for (const s of Object.values(byPath)) expect(s.code).toBe('E_PATH');
    expect(byPath['alice/vector_store_leak']?.reason).toBe(
      `metadata.json is a symbolic link to ${join(outside, 'secret.json')}, outside its store directory; the store is refused (links may only point to files in the same store)`,
    );
    expect(byPath['alice/vector_store_cross']?.reason).toMatch(/vectors\.pkl is a symbolic link to .*bob.*outside its store directory/);
    expect(byPath['alice/vector_store_dangle']?.reason).toMatch(/gone\.json \(which does not resolve\)/);
  });

  it('accepts a root that is itself a symlink, and reports resolved store paths', async () => {
    tree(root, store('u', 'c'));
    const link = join(base, 'link-to-root');
    symlinkSync(root, link);
    const es = await events(link);
    expect(stores(es)).toEqual([
      { userId: 'u', collection: 'c', dir: join(root, 'u/vector_store_c'), vectorsPath: join(root, 'u/vector_store_c/vectors.pkl'), metadataPath: join(root, 'u/vector_store_c/metadata.json') },
    ]);
  });

  it('with a users filter, reports a requested user that has no store', async () => {
    tree(root, { 'quiet/interview_data/x.json': '{}', ...store('loud', 'c') });
    const es = await events(root, { users: ['quiet', 'loud'] });
    expect(ids(es)).toEqual(['loud/c']);
    expect(skips(es)).toEqual([{ kind: 'skipped', path: join(root, 'quiet'), code: 'E_USAGE', reason: expect.stringMatching(/has no vector_store_\* directory/) }]);
    // Without a filter, a user with no stores is simply not a source of anything.
    expect(skips(await events(root))).toEqual([]);
  });

  it('accepts a relative root', async () => {
    tree(root, store('u', 'c'));
    const rel = relative(process.cwd(), root);
    expect(rel.startsWith('/')).toBe(false);
    expect(ids(await events(rel))).toEqual(['u/c']);
  });
});
