/**
 * modelForTable (src/run/recordedModel.ts) on tables whose rows record their models, against
 * PostgreSQL and PGlite: one recorded model replaces the default, several are refused unless a
 * model is named, keep-mode rows need none, and a user's rows are judged on their own.
 */
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../src/config.js';
import { modelForTable } from '../src/run/recordedModel.js';
import type { DocumentRow, TargetSpec } from '../src/sink/types.js';
import { DRIVERS, expectMigrateError, inBatches, makeRow, uniqueTable, useHarness } from './helpers/db.js';

const DIMS = 4;
const DEFAULT: ModelConfig = { id: 'Xenova/all-MiniLM-L6-v2', cacheDir: null, allowRemoteModels: false, fromDefault: true };

function fingerprint(model: string, sha: string | null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ dimensions: DIMS, model, modelSha256: sha, normalized: true, onnxFile: 'model.onnx', pooling: 'mean', vectorType: 'vector', ...extra });
}

describe.each(DRIVERS)('the model a table records (%s)', (driver) => {
  const ctx = useHarness(driver);

  async function tableWith(stores: { user: string; fingerprint: string; label?: string }[]): Promise<string> {
    const table = ctx.track(uniqueTable('recorded'));
    const target: TargetSpec = { table, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    for (const s of stores) {
      const rows: DocumentRow[] = [0, 1, 2].map((i) => ({ ...makeRow(s.user, 'c', i, DIMS), embeddingModel: s.label ?? 'm', embeddingFingerprint: s.fingerprint }));
      await ctx.h.sink.loads.replaceStore(target, { userId: s.user, collection: 'c' }, inBatches(rows, 2));
    }
    return table;
  }

  it('uses the one recorded model instead of the default, and a named model over it', async () => {
    const table = await tableWith([{ user: 'u1', fingerprint: fingerprint('/models/mine', 'a'.repeat(64)) }]);
    expect(await modelForTable(ctx.h.sink, table, DEFAULT)).toEqual({
      kind: 'model',
      model: { id: '/models/mine', cacheDir: null, allowRemoteModels: false },
      recorded: { model: '/models/mine', modelSha256: 'a'.repeat(64), onnxFile: 'model.onnx' },
    });
    const named: ModelConfig = { id: 'other', cacheDir: null, allowRemoteModels: false };
    expect(await modelForTable(ctx.h.sink, table, named)).toEqual({ kind: 'model', model: named, recorded: null });
  });

  it('refuses several models unless one is named; judges one user by their own rows', async () => {
    const table = await tableWith([
      { user: 'u1', fingerprint: fingerprint('/models/old', 'b'.repeat(64)) },
      { user: 'u2', fingerprint: fingerprint('/models/new', 'c'.repeat(64)) },
      // Another PCA model, same embedding model: still one model.
      { user: 'u3', fingerprint: fingerprint('/models/new', 'c'.repeat(64), { pcaModelId: 'x' }) },
    ]);
    await expectMigrateError(modelForTable(ctx.h.sink, table, DEFAULT), 'E_MODEL', '2 models', '/models/old', 'b'.repeat(64), '/models/new (SHA-256 ' + 'c'.repeat(64) + '): 6 rows', 'doctor', '--model');
    expect(await modelForTable(ctx.h.sink, table, DEFAULT, 'u1')).toMatchObject({ kind: 'model', model: { id: '/models/old' } });
    expect(await modelForTable(ctx.h.sink, table, { ...DEFAULT, fromDefault: undefined })).toMatchObject({ kind: 'model', recorded: null });
  });

  it('keep-mode rows need no model; a table without fingerprints keeps the default', async () => {
    const table = await tableWith([{ user: 'u1', fingerprint: JSON.stringify({ dimensions: DIMS, kept: true, model: 'stored', vectorType: 'vector' }), label: 'stored' }]);
    expect(await modelForTable(ctx.h.sink, table, DEFAULT)).toEqual({ kind: 'keep', label: 'stored' });
    const empty = await tableWith([]);
    expect(await modelForTable(ctx.h.sink, empty, DEFAULT)).toEqual({ kind: 'model', model: DEFAULT, recorded: null });
  });
});
