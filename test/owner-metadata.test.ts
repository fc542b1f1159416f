/**
 * --owner-in-metadata (transform/ownerMetadata.ts): the owner keys always name the store's real
 * user and collection; a source value that says otherwise is kept aside, never left in place.
 */
import { describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { withOwner } from '../src/transform/ownerMetadata.js';

const owner = { userId: 'alice_example_com', collection: 'notes' };

describe('withOwner', () => {
  it('adds user_id and collection_name, keeping every other key and its order', () => {
    const { metadata, conflicts } = withOwner({ source: 'upload', tags: ['a'] }, owner, 0);
    expect(Object.entries(metadata)).toEqual([
      ['source', 'upload'],
      ['tags', ['a']],
      ['user_id', 'alice_example_com'],
      ['collection_name', 'notes'],
    ]);
    expect(conflicts).toEqual([]);
  });

  it('leaves keys that already name the owner alone, with no conflict', () => {
    const { metadata, conflicts } = withOwner({ user_id: 'alice_example_com', collection_name: 'notes' }, owner, 0);
    expect(metadata).toEqual({ user_id: 'alice_example_com', collection_name: 'notes' });
    expect(conflicts).toEqual([]);
  });

  it('moves a source value naming someone else to source_<key> and writes the owner', () => {
    const { metadata, conflicts } = withOwner({ user_id: 'mallory', collection_name: 7 }, owner, 4);
    expect(metadata).toEqual({ user_id: 'alice_example_com', source_user_id: 'mallory', collection_name: 'notes', source_collection_name: 7 });
    expect(conflicts).toEqual([
      { key: 'user_id', value: 'mallory', movedTo: 'source_user_id' },
      { key: 'collection_name', value: 7, movedTo: 'source_collection_name' },
    ]);
  });

  it('refuses with E_METADATA when source_<key> is taken by another value', () => {
    let error: unknown;
    try {
      withOwner({ user_id: 'mallory', source_user_id: 'eve' }, owner, 9);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('E_METADATA');
    expect((error as MigrateError).message).toContain('entry 9 of alice_example_com/notes');
  });

  it('keeps a __proto__ key of parsed JSON as data', () => {
    const parsed = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as Record<string, unknown>;
    const { metadata } = withOwner(parsed, owner, 0);
    expect(JSON.parse(JSON.stringify(metadata))).toEqual(JSON.parse('{"__proto__": {"x": 1}, "a": 2, "user_id": "alice_example_com", "collection_name": "notes"}'));
  });
});
