import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupStore } from '../src/source/backup.js';
import type { StoreLocation } from '../src/source/types.js';

async function makeStore(): Promise<{ store: StoreLocation; root: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'pvm-backup-'));
  const dir = path.join(root, 'user_data', 'alice', 'vector_store_notes');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vectors.pkl'), Buffer.from([0x80, 4, 0x5d, 0x94, 0x2e]));
  await writeFile(path.join(dir, 'metadata.json'), '[{"text":"hello"}]');
  return { root, store: { userId: 'alice', collection: 'notes', dir, vectorsPath: path.join(dir, 'vectors.pkl'), metadataPath: path.join(dir, 'metadata.json') } };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('backupStore', () => {
  it('copies the files to <root>/<user>/<collection>/ with a SHA-256 manifest that matches the copies', async () => {
    const { store, root } = await makeStore();
    const backupRoot = path.join(root, 'backup', '20261121T000000Z');
    const result = await backupStore(store, backupRoot, new Date('2026-11-21T00:00:00Z'));
    expect(result.dir).toBe(path.join(backupRoot, 'alice', 'notes'));
    const manifest = JSON.parse(await readFile(path.join(result.dir, 'manifest.json'), 'utf8'));
    expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(['vectors.pkl', 'metadata.json']);
    for (const f of manifest.files as { name: string; sha256: string; bytes: number }[]) {
      const copy = await readFile(path.join(result.dir, f.name));
      const original = await readFile(path.join(store.dir, f.name));
      expect(copy.equals(original)).toBe(true);
      expect(f.sha256).toBe(sha(original));
      expect(f.bytes).toBe(original.length);
    }
  });

  it('backs up the one file a store has when the other is missing', async () => {
    const { store, root } = await makeStore();
    const result = await backupStore({ ...store, metadataPath: null }, path.join(root, 'b'), new Date());
    expect(result.manifest.files.map((f) => f.name)).toEqual(['vectors.pkl']);
  });

  it('fails with E_BACKUP when the backup directory cannot be written', async () => {
    const { store, root } = await makeStore();
    // A path under a regular file fails for every user, root included (root ignores permission bits).
    const blocker = path.join(root, 'file');
    await writeFile(blocker, 'x');
    await expect(backupStore(store, path.join(blocker, 'sub'), new Date())).rejects.toMatchObject({ code: 'E_BACKUP' });
  });

  it('refuses to overwrite an existing backup', async () => {
    const { store, root } = await makeStore();
    const b = path.join(root, 'b');
    await backupStore(store, b, new Date());
    await expect(backupStore(store, b, new Date())).rejects.toMatchObject({ code: 'E_BACKUP', message: expect.stringContaining('already exists') });
  });
});
