/** The queue's configuration (issue 14): flags > env > defaults, built once in config.ts. */
import { describe, expect, it } from 'vitest';
import { buildReembedConfig, buildWorkerConfig, queuePolicy } from '../src/config.js';
import { takeoverSeconds } from '../src/queue/engine.js';
import { jobId } from '../src/queue/jobs.js';

describe('queue configuration', () => {
  it('defaults to a takeover within 2 minutes and 3 attempts; --job-timeout and --attempts override them', () => {
    expect(queuePolicy({})).toEqual({ expireSeconds: 100, attempts: 3, retryDelaySeconds: 5 });
    // Expiry + sweep + the first retry's longest backoff + a poll: the bound for a killed worker.
    expect(takeoverSeconds(queuePolicy({}))).toBe(117);
    expect(takeoverSeconds(queuePolicy({}))).toBeLessThanOrEqual(120);
    expect(takeoverSeconds(queuePolicy({ jobTimeout: '30' }))).toBe(47);
    expect(queuePolicy({ jobTimeout: '30', attempts: '5' })).toMatchObject({ expireSeconds: 30, attempts: 5 });
    expect(() => queuePolicy({ attempts: '0' })).toThrow(/--attempts must be between 1 and 100/);
  });

  it('a worker takes its keys and database from its own flags or environment', () => {
    const config = buildWorkerConfig({ concurrency: '2', drain: true }, { DATABASE_URL: 'postgres://u:secret@h/db', ENCRYPTION_MASTER_KEY: 'k1', ENCRYPTION_MASTER_KEYS: 'k2' }, '/tmp');
    expect(config.concurrency).toBe(2);
    expect(config.drain).toBe(true);
    expect(config.masterKeys.map((k) => k.reveal())).toEqual(['k1', 'k2']);
    expect(config.database.url?.reveal()).toBe('postgres://u:secret@h/db');
    expect(() => buildWorkerConfig({ concurrency: 'x' }, {}, '/tmp')).toThrow(/--concurrency must be a positive integer/);
  });

  it("a worker's onnxruntime threads: --threads, else onnxruntime's own default", () => {
    expect(buildWorkerConfig({}, {}, '/tmp').threads).toBeNull();
    expect(buildWorkerConfig({ threads: '1' }, {}, '/tmp').threads).toBe(1);
    expect(() => buildWorkerConfig({ threads: '0' }, {}, '/tmp')).toThrow(/--threads must be between 1 and 256/);
  });

  it('reembed --enqueue and --swap are actions of their own, exclusive with --abort', () => {
    expect(buildReembedConfig({ model: 'm', enqueue: true, pageRows: '50' }, {}, '/tmp')).toMatchObject({ action: 'enqueue', pageRows: 50 });
    expect(buildReembedConfig({ model: 'm', swap: true }, {}, '/tmp').action).toBe('swap');
    expect(() => buildReembedConfig({ model: 'm', enqueue: true, abort: true }, {}, '/tmp')).toThrow(/--abort and --enqueue are separate steps/);
    expect(() => buildReembedConfig({ enqueue: true }, {}, '/tmp')).toThrow(/reembed needs the new model/);
  });

  it('job ids depend only on what the job does', () => {
    expect(jobId('store', 't', 'alice', 'notes', 'abc')).toBe(jobId('store', 't', 'alice', 'notes', 'abc'));
    expect(jobId('store', 't', 'alice', 'notes', 'abc')).not.toBe(jobId('store', 't', 'alice', 'notes', 'abd'));
  });
});
