/**
 * --dtype through the built CLI, on PostgreSQL and PGlite: a q8 load records q8 on every row, a
 * load of another dtype into that table is refused before anything is written, query follows the
 * rows' dtype, and a dry run reports the dtype's cosine to fp32 on its sample.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROOT = path.join(SHARED_STORES, 'user_data');
const Q8_SHA = createHash('sha256').update(await readFile(path.join(TINY_MODEL, 'onnx', 'model_quantized.onnx'))).digest('hex');
const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

describe.each(['pg', 'pglite'] as const)('--dtype end to end (%s)', (driver) => {
  let work: string;
  let target: Target;
  const table = `dtype_${driver}_${process.pid}`;
  const migrate = (...extra: string[]) => ['migrate', ROOT, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--users', 'bob,frank', '--no-backup', ...extra];
  const rows = () => withDb(target, (q) => q<{ user_id: string; source_index: number; e: string; f: string }>(`SELECT user_id, source_index, embedding::text AS e, embedding_fingerprint AS f FROM "${table}" ORDER BY user_id, source_index`));

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-dtype-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
    if (target.driver === 'pg') await dropTable(target.url, table);
  });
  afterAll(async () => {
    if (target.driver === 'pg') await dropTable(target.url, table);
    await rm(work, { recursive: true, force: true });
  });

  it('a dry run with --dtype q8 reports mean and minimum cosine of q8 against fp32 on its sample', async () => {
    const report = path.join(work, 'dry.json');
    const r = await runCli([...migrate('--dry-run', '--dtype', 'q8', '--report', report)], { env });
    expect(r.code, r.stderr).toBe(0);
    const q = (JSON.parse(await readFile(report, 'utf8')) as { estimate: { sampleSize: number; dtypeQuality?: { dtype: string; against: string; sampleSize: number; meanCosine: number; minCosine: number } } }).estimate;
    expect(q.dtypeQuality).toMatchObject({ dtype: 'q8', against: 'fp32', sampleSize: q.sampleSize });
    expect(q.sampleSize).toBeGreaterThan(0);
    expect(q.dtypeQuality?.meanCosine).toBeGreaterThan(0.9);
    expect(q.dtypeQuality?.minCosine).toBeLessThanOrEqual(q.dtypeQuality?.meanCosine ?? 0);
    expect(q.dtypeQuality?.meanCosine).toBeLessThan(1);
    // fp32 has nothing to compare with.
    const plain = path.join(work, 'dry-fp32.json');
    expect((await runCli([...migrate('--dry-run', '--report', plain)], { env })).code).toBe(0);
    expect((JSON.parse(await readFile(plain, 'utf8')) as { estimate: Record<string, unknown> }).estimate['dtypeQuality']).toBeUndefined();
  });

  it('loads with q8: every row records dtype q8 and the quantized file', async () => {
    const r = await runCli(migrate('--dtype', 'q8'), { env });
    expect(r.code, r.stderr).toBe(0);
    const loaded = await rows();
    expect(loaded.length).toBeGreaterThan(0);
    for (const row of loaded) expect(JSON.parse(row.f)).toMatchObject({ dtype: 'q8', onnxFile: 'onnx/model_quantized.onnx', modelSha256: Q8_SHA });
  });

  it('refuses to load fp32 vectors into the q8 table, before writing anything (E_MODEL, exit 2)', async () => {
    const before = await rows();
    for (const extra of [['--force'], ['--force', '--dtype', 'fp32'], ['--dry-run', '--dtype', 'fp32']]) {
      const r = await runCli(migrate(...extra), { env });
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/E_MODEL: table \S+ holds \d+ rows of dtype q8; this run embeds with dtype fp32, and one table never mixes dtypes: pass --dtype q8/);
    }
    expect(await rows()).toEqual(before);
    // The same dtype is welcome: an unchanged store is skipped, a forced one reloaded.
    expect((await runCli(migrate('--dtype', 'q8', '--force'), { env })).code).toBe(0);
  });

  it('query without --model embeds with the rows\' model and dtype; --dtype fp32 against q8 rows is refused', async () => {
    const ok = await runCli(['query', 'meeting notes', '--user', 'bob', ...targetArgs(target), '--table', table, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((ok.lines[0] as { hits: unknown[] }).hits.length).toBeGreaterThan(0);
    const other = await runCli(['query', 'meeting notes', '--user', 'bob', ...targetArgs(target), '--table', table, '--dtype', 'fp32', '--json']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(new RegExp(`E_MODEL: .*SHA-256 ${Q8_SHA}`));
  });
});
