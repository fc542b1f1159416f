import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildMigrateConfig, buildQueryConfig, buildReembedConfig, DEFAULTS } from '../src/config.js';
import { redactUrl } from '../src/sink/redact.js';

const now = new Date('2026-11-21T18:51:00.123Z');

describe('buildMigrateConfig', () => {
  it('applies defaults', () => {
    const c = buildMigrateConfig('user_data', {}, {}, '/work', now);
    expect(c.root).toBe('/work/user_data');
    expect(c.dryRun).toBe(false);
    expect(c.database.url).toBeNull();
    expect(c.database.pgliteDir).toBe(path.resolve('/work', DEFAULTS.pgliteDir));
    expect(c.model).toEqual({ id: 'Xenova/all-MiniLM-L6-v2', cacheDir: null, allowRemoteModels: true, fromDefault: true });
    expect(c.batchSize).toBe(32);
    expect(c.table).toBe('vector_documents');
    expect(c.backupDir).toBe('/work/migration_backup/20261121T185100Z');
    expect(c.masterKeys).toEqual([]);
    expect(c.tryDefaultKey).toBe(false);
  });

  it('takes flags over the environment over defaults', () => {
    const env = { DATABASE_URL: 'postgres://env@h/db', ENCRYPTION_MASTER_KEY: 'from-env', PGVECTOR_MIGRATE_MODEL: 'env/model' };
    const fromEnv = buildMigrateConfig('r', {}, env, '/w', now);
    expect(fromEnv.database.url?.reveal()).toBe('postgres://env@h/db');
    expect(fromEnv.masterKeys.map((k) => k.reveal())).toEqual(['from-env']);
    expect(fromEnv.model.id).toBe('env/model');
    const fromFlags = buildMigrateConfig('r', { databaseUrl: 'postgresql://flag@h/db', masterKey: 'from-flag', model: './m', batchSize: '8' }, env, '/w', now);
    expect(fromFlags.database.url?.reveal()).toBe('postgresql://flag@h/db');
    expect(fromFlags.masterKeys.map((k) => k.reveal())).toEqual(['from-flag']);
    expect(fromFlags.model.id).toBe('./m');
    expect(fromFlags.batchSize).toBe(8);
  });

  it('takes several candidate master keys: repeated --master-key over ENCRYPTION_MASTER_KEY then ENCRYPTION_MASTER_KEYS', () => {
    const reveal = (c: { masterKeys: { reveal(): string }[] }) => c.masterKeys.map((k) => k.reveal());
    const env = { ENCRYPTION_MASTER_KEY: 'current', ENCRYPTION_MASTER_KEYS: 'old-1, old-2,,current' };
    // The environment: the current key first, then the list (trimmed; a repeat is tried once, at its first place).
    expect(reveal(buildMigrateConfig('r', {}, env, '/w', now))).toEqual(['current', 'old-1', 'old-2']);
    expect(reveal(buildMigrateConfig('r', {}, { ENCRYPTION_MASTER_KEYS: 'a,b' }, '/w', now))).toEqual(['a', 'b']);
    // Any flag replaces the environment as a whole; a flag keeps commas (raw-string keys may hold one).
    expect(reveal(buildMigrateConfig('r', { masterKey: ['k,1', 'k2', ''] }, env, '/w', now))).toEqual(['k,1', 'k2']);
    expect(buildMigrateConfig('r', { tryDefaultKey: true }, {}, '/w', now).tryDefaultKey).toBe(true);
    const shown = inspect(buildMigrateConfig('r', { masterKey: ['sup3r-one', 'sup3r-two'] }, {}, '/w', now), { depth: 10 });
    expect(shown).not.toMatch(/sup3r/);
  });

  it('parses --users, --no-backup, --offline and --report', () => {
    const c = buildMigrateConfig('r', { users: 'alice, bob,,', backup: false, offline: true, report: 'out.json' }, {}, '/w', now);
    expect(c.users).toEqual(['alice', 'bob']);
    expect(c.backupDir).toBeNull();
    expect(c.model.allowRemoteModels).toBe(false);
    expect(c.reportPath).toBe('/w/out.json');
  });

  it('refuses bad input with E_USAGE', () => {
    expect(() => buildMigrateConfig('r', { batchSize: '0' }, {}, '/w', now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => buildMigrateConfig('r', { batchSize: '1x' }, {}, '/w', now)).toThrow(/--batch-size must be a positive integer/);
    expect(() => buildMigrateConfig('r', { databaseUrl: 'mysql://x' }, {}, '/w', now)).toThrow(/postgres:\/\//);
    expect(() => buildMigrateConfig('r', { users: ',' }, {}, '/w', now)).toThrow(/--users/);
    expect(() => buildMigrateConfig('', {}, {}, '/w', now)).toThrow(/root/);
  });

  it('refuses a backup directory inside the source root, which would modify the source', () => {
    expect(() => buildMigrateConfig('/data/user_data', { backupDir: '/data/user_data/backups' }, {}, '/w', now)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(buildMigrateConfig('/data/user_data', { backupDir: '/data/backups' }, {}, '/w', now).backupDir).toBe('/data/backups/20261121T185100Z');
  });

  it('never prints secrets when the configuration is serialized or inspected', () => {
    const c = buildMigrateConfig('r', { databaseUrl: 'postgres://u:hunter2pw@h/db', masterKey: 'sup3r-s3cret-key' }, {}, '/w', now);
    const shown = JSON.stringify(c) + inspect(c, { depth: 10 }) + String(c.masterKeys);
    expect(shown).not.toContain('hunter2pw');
    expect(shown).not.toContain('sup3r-s3cret-key');
  });
});

describe('--dtype', () => {
  it('is absent unless named (the embedder then uses fp32), --dtype over $PGVECTOR_MIGRATE_DTYPE, for migrate, query and reembed', () => {
    expect(buildMigrateConfig('r', {}, {}, '/w', now).model.dtype).toBeUndefined();
    expect(DEFAULTS.dtype).toBe('fp32');
    const env = { PGVECTOR_MIGRATE_DTYPE: 'fp16' };
    expect(buildMigrateConfig('r', {}, env, '/w', now).model.dtype).toBe('fp16');
    expect(buildMigrateConfig('r', { dtype: 'q8' }, env, '/w', now).model.dtype).toBe('q8');
    expect(buildQueryConfig('t', { user: 'u', dtype: 'q4' }, env, '/w').model.dtype).toBe('q4');
    expect(buildReembedConfig({ model: 'm', dtype: 'q8' }, {}, '/w').model.dtype).toBe('q8');
  });

  it('refuses a dtype outside fp32, fp16, q8, q4 with E_USAGE naming the choices', () => {
    expect(() => buildMigrateConfig('r', { dtype: 'int4' }, {}, '/w', now)).toThrow(/--dtype must be one of fp32, fp16, q8, q4; got "int4"/);
    expect(() => buildQueryConfig('t', { user: 'u' }, { PGVECTOR_MIGRATE_DTYPE: 'Q8' }, '/w')).toThrow(/--dtype must be one of/);
  });
});

describe('buildQueryConfig', () => {
  it('requires a user and text and parses -k', () => {
    expect(buildQueryConfig('hello', { user: 'alice', k: '3' }, {}, '/w')).toMatchObject({ userId: 'alice', k: 3, collection: null, text: 'hello' });
    expect(() => buildQueryConfig(' ', { user: 'alice' }, {}, '/w')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => buildQueryConfig('x', { user: 'alice', k: '0' }, {}, '/w')).toThrow(/-k/);
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrl('postgres://user:pa%40ss@db.example:5433/app')).toBe('postgres://user:***@db.example:5433/app');
    expect(redactUrl('postgres://user@db/app')).toBe('postgres://user@db/app');
    expect(redactUrl('postgres://user@db/app?password=qwerty123')).not.toContain('qwerty123');
    expect(redactUrl('not a url //user:pw@x')).not.toContain('pw');
  });
});

describe('support flags', () => {
  it('parse --collections, --retry-failed, --force, --no-wait and --keep-previous', () => {
    const c = buildMigrateConfig('r', { collections: 'notes, work', retryFailed: true, force: true, wait: false, keepPrevious: '30' }, {}, '/w', now);
    expect(c).toMatchObject({ collections: ['notes', 'work'], retryFailed: true, force: true, noWait: true, keepPreviousDays: 30 });
    const d = buildMigrateConfig('r', {}, {}, '/w', now);
    expect(d).toMatchObject({ collections: null, retryFailed: false, force: false, noWait: false, keepPreviousDays: 7 });
    expect(() => buildMigrateConfig('r', { keepPrevious: 'x' }, {}, '/w', now)).toThrow(/--keep-previous/);
  });

  it('the ledger records the version package.json declares', async () => {
    const { TOOL_VERSION } = await import('../src/version.js');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(TOOL_VERSION).toBe(pkg.version);
  });
});

describe('buildReembedConfig', () => {
  it('needs the new model for a run, from --model or the environment, but not to abort or swap back', () => {
    expect(() => buildReembedConfig({}, {}, '/work')).toThrow(/needs the new model/);
    expect(buildReembedConfig({}, { PGVECTOR_MIGRATE_MODEL: 'Xenova/bge-small-en-v1.5' }, '/work').model.id).toBe('Xenova/bge-small-en-v1.5');
    expect(buildReembedConfig({ abort: true }, {}, '/work').action).toBe('abort');
    expect(buildReembedConfig({ swapBack: true }, {}, '/work').action).toBe('swap-back');
    expect(() => buildReembedConfig({ abort: true, swapBack: true }, {}, '/work')).toThrow(/separate steps/);
  });

  it('reads the batch, users, reduction and swap options', () => {
    const c = buildReembedConfig(
      { model: 'm', users: 'alice, bob', batchSize: '8', reduce: 'pca', dimensions: '256', swap: false, wait: false, table: 'docs', report: 'r.json' },
      {},
      '/work',
    );
    expect(c).toMatchObject({ action: 'run', table: 'docs', users: ['alice', 'bob'], batchSize: 8, swap: false, noWait: true, reportPath: '/work/r.json' });
    expect(c.reduction).toMatchObject({ mode: 'pca', dimensions: 256 });
    expect(buildReembedConfig({ model: 'm' }, {}, '/work')).toMatchObject({ swap: true, noWait: false, users: null, batchSize: DEFAULTS.batchSize, table: DEFAULTS.table });
    expect(() => buildReembedConfig({ model: 'm', batchSize: '0' }, {}, '/work')).toThrow(/--batch-size/);
    expect(() => buildReembedConfig({ model: 'm', reduce: 'zip' }, {}, '/work')).toThrow(/--reduce/);
  });
});
