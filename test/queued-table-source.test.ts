/**
 * A --from-table source as a queued job names it and as a worker opens it again: no URL in the
 * job, the worker's own connection, and the coded refusals of a worker that cannot read the table.
 */
import { describe, expect, it } from 'vitest';
import { buildWorkerConfig } from '../src/config.js';
import { tableSourceConfig } from '../src/config/tableSource.js';
import { queuedTableSource, workerTableSource } from '../src/run/queuedTableSource.js';
import { Secret } from '../src/secret.js';

const TARGET = 'postgres://app:target-pw@db.internal:5432/app';
const SOURCE = 'postgres://reader:source-pw@old-host:6543/legacy';
const MAP = "id=id,user_id=owner,collection='crate',text=body,vector=emb";

describe('queued table sources', () => {
  it('a table of another database is queued as its host:port/database only; a worker with that database reads it', () => {
    const config = tableSourceConfig({ fromTable: 'kb.notes', fromDatabase: SOURCE, map: MAP }, new Secret(TARGET));
    if (config === null) throw new Error('no table source');
    const queued = queuedTableSource(config);
    expect(queued).toEqual({ table: 'kb.notes', mappingText: "id=id,user_id=owner,collection='crate',text=body,vector=emb", inTarget: false, database: 'old-host:6543/legacy' });
    expect(JSON.stringify(queued)).not.toMatch(/source-pw|reader/);
    const worker = buildWorkerConfig({ databaseUrl: TARGET, fromDatabase: 'postgres://other:pw2@old-host:6543/legacy' }, {}, '/tmp');
    const opened = workerTableSource(JSON.parse(JSON.stringify(queued)), worker);
    expect(opened.database.reveal()).toBe('postgres://other:pw2@old-host:6543/legacy');
    expect({ ...opened, database: null }).toEqual({ ...config, database: null });
  });

  it('a worker without --from-database, or with another database, refuses the job with E_CONFIG naming the flag and the database', () => {
    const config = tableSourceConfig({ fromTable: 'kb.notes', fromDatabase: SOURCE, map: MAP }, new Secret(TARGET));
    if (config === null) throw new Error('no table source');
    const queued = queuedTableSource(config);
    const without = buildWorkerConfig({ databaseUrl: TARGET }, {}, '/tmp');
    expect(() => workerTableSource(queued, without)).toThrow(expect.objectContaining({ code: 'E_CONFIG', message: expect.stringMatching(/from old-host:6543\/legacy.*--from-database.*PGVECTOR_MIGRATE_FROM_DATABASE/) }));
    const elsewhere = buildWorkerConfig({ databaseUrl: TARGET }, { PGVECTOR_MIGRATE_FROM_DATABASE: 'postgres://reader:source-pw@old-host:6543/other' }, '/tmp');
    expect(() => workerTableSource(queued, elsewhere)).toThrow(expect.objectContaining({ code: 'E_CONFIG', message: expect.stringMatching(/is old-host:6543\/other: give the worker a URL of old-host:6543\/legacy/) }));
    expect(() => workerTableSource(queued, elsewhere)).not.toThrow(/source-pw/);
  });

  it("a table of the target database is read through the worker's own target URL; --from-database must be a postgres URL", () => {
    const config = tableSourceConfig({ fromTable: 'doc_embeddings', map: 'user_id=crate_name,text=content' }, new Secret(TARGET));
    if (config === null) throw new Error('no table source');
    const queued = queuedTableSource(config);
    expect(queued).toEqual({ table: 'doc_embeddings', mappingText: "user_id=crate_name,collection='default',text=content", inTarget: true, database: null });
    const worker = buildWorkerConfig({}, { DATABASE_URL: 'postgres://worker:wpw@db.internal:5432/app' }, '/tmp');
    expect(workerTableSource(queued, worker)).toMatchObject({ inTarget: true, table: 'doc_embeddings' });
    expect(workerTableSource(queued, worker).database.reveal()).toBe('postgres://worker:wpw@db.internal:5432/app');
    expect(() => buildWorkerConfig({ fromDatabase: 'mysql://x' }, {}, '/tmp')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(buildWorkerConfig({}, {}, '/tmp').fromDatabase).toBeNull();
  });
});
