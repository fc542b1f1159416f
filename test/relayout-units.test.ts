/** `relayout`'s flags and the fingerprints it gives re-laid-out rows; no database needed. */
import { describe, expect, it } from 'vitest';
import { buildRelayoutConfig, DEFAULT_RELAYOUT_PAGE_ROWS, type RelayoutFlags } from '../src/config.js';
import { MigrateError } from '../src/errors.js';
import { keptSpace, modelSpace, parseSpace, projectedSpace, relaidFingerprint, serializeSpace, truncatedSpace } from '../src/transform/embeddingSpace.js';

const build = (flags: RelayoutFlags) => buildRelayoutConfig(flags, {}, '/work');

function usage(flags: RelayoutFlags): string {
  try {
    build(flags);
  } catch (error) {
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('E_USAGE');
    return (error as MigrateError).message;
  }
  throw new Error(`accepted ${JSON.stringify(flags)}`);
}

describe('buildRelayoutConfig', () => {
  it('reads the layout change, keeping what is not asked for', () => {
    expect(build({ partitions: '16' })).toMatchObject({ action: 'run', request: { partitions: 16, vectorType: null, dimensions: null, reduce: null }, swap: true, noWait: false, pageRows: DEFAULT_RELAYOUT_PAGE_ROWS });
    expect(build({ partitions: false, vectorType: 'halfvec', swap: false, wait: false, pageRows: '100' })).toMatchObject({
      request: { partitions: 'none', vectorType: 'halfvec' },
      swap: false,
      noWait: true,
      pageRows: 100,
    });
    // --dimensions alone truncates.
    expect(build({ dimensions: '256' }).request).toEqual({ partitions: null, vectorType: null, dimensions: 256, reduce: 'truncate', pcaSample: 20000 });
    expect(build({ dimensions: '256', reduce: 'truncate', dryRun: true }).action).toBe('dry-run');
    expect(build({ dimensions: '8', reduce: 'pca', pcaSample: '500' }).request).toMatchObject({ dimensions: 8, reduce: 'pca', pcaSample: 500 });
    // --swap, --abort and --swap-back act on the running job: no layout flags needed.
    expect(build({ swap: true }).action).toBe('run');
    expect(build({ abort: true }).action).toBe('abort');
    expect(build({ swapBack: true }).action).toBe('swap-back');
  });

  it('refuses no change, --reduce without --dimensions, one partition and two steps at once', () => {
    expect(usage({})).toMatch(/needs a layout change/);
    expect(usage({ dryRun: true })).toMatch(/--dry-run needs the layout change/);
    expect(usage({ dimensions: '64', reduce: 'umap' })).toMatch(/--reduce must be one of truncate, pca/);
    expect(usage({ reduce: 'truncate' })).toMatch(/--reduce needs --dimensions/);
    expect(usage({ partitions: '1' })).toMatch(/--partitions must be from 2 to 256/);
    expect(usage({ partitions: '300' })).toMatch(/--partitions must be from 2 to 256/);
    expect(usage({ vectorType: 'float' })).toMatch(/--vector-type must be one of vector, halfvec/);
    expect(usage({ partitions: '4', dryRun: true, abort: true })).toMatch(/--dry-run and --abort are separate steps/);
  });
});

describe('relaidFingerprint', () => {
  const identity = { model: 'm', modelSha256: 'ab', onnxFile: 'onnx/model.onnx', pooling: 'mean' as const, normalized: true, dimensions: 32 };
  const space = modelSpace(identity, 'vector');

  it('a new column type keeps the space but names the type', () => {
    expect(relaidFingerprint(serializeSpace(space), { vectorType: 'halfvec', dimensions: 32 })).toBe(serializeSpace({ ...space, vectorType: 'halfvec' }));
    expect(relaidFingerprint(serializeSpace(space), { vectorType: 'vector', dimensions: 32 })).toBe(serializeSpace(space));
  });

  it('a shorter dimension is the truncated space, of the model or of kept vectors, from an already truncated one too', () => {
    const relaid = relaidFingerprint(serializeSpace(space), { vectorType: 'vector', dimensions: 16 });
    expect(relaid).toBe(serializeSpace(truncatedSpace(space, 16)));
    expect(parseSpace(relaid)).toMatchObject({ dimensions: 16, sourceDimensions: 32, reduction: { kind: 'truncate' } });
    const twice = relaidFingerprint(relaid as string, { vectorType: 'halfvec', dimensions: 8 });
    expect(parseSpace(twice)).toMatchObject({ dimensions: 8, sourceDimensions: 32, reduction: { kind: 'truncate' }, vectorType: 'halfvec' });
    const kept = keptSpace('label', 32, 'vector');
    expect(relaidFingerprint(serializeSpace(kept), { vectorType: 'vector', dimensions: 16 })).toBe(serializeSpace(truncatedSpace(kept, 16)));
  });

  it('leaves what it cannot read alone (null): older rows, text written by hand', () => {
    expect(relaidFingerprint('not json', { vectorType: 'halfvec', dimensions: 32 })).toBeNull();
    expect(relaidFingerprint('{"model":"m"}', { vectorType: 'halfvec', dimensions: 32 })).toBeNull();
  });

  it('a PCA re-layout gives the space projected by the new model', () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect(relaidFingerprint(serializeSpace(space), { vectorType: 'vector', dimensions: 8, pcaModelId: id })).toBe(serializeSpace(projectedSpace(space, { id, targetDimensions: 8 })));
  });
});
