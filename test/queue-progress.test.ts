/**
 * The live workers `status` reports are those connected to this database: a server that hosts other
 * databases (another test suite's, another application's) has other workers by the same name.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../src/queue/engine.js';
import { readQueueProgress } from '../src/queue/progress.js';
import { WORKER_APPLICATION } from '../src/run/worker.js';
import { TEST_DATABASE_URL } from './helpers/cli.js';

function connect(database: string | null, applicationName: string): Promise<pg.Client> {
  const url = new URL(TEST_DATABASE_URL);
  if (database !== null) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString(), application_name: applicationName });
  return client.connect().then(() => client);
}

describe('queue progress: live workers (pg)', () => {
  const here = `${WORKER_APPLICATION} here ${process.pid}`;
  const elsewhere = `${WORKER_APPLICATION} elsewhere ${process.pid}`;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    const boss = await openQueue(TEST_DATABASE_URL, { applicationName: 'queue-progress installs the queue', supervise: false }, () => undefined);
    await boss.stop({ graceful: false, wait: true });
    // A worker of another database on the same server: the maintenance database every server has.
    clients.push(await connect(null, here), await connect('postgres', elsewhere));
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
  });

  it('lists the workers connected to this database only', async () => {
    const progress = await readQueueProgress(TEST_DATABASE_URL, `queue_progress_${process.pid}`, WORKER_APPLICATION);
    expect(progress).toMatchObject({ total: 0 });
    const workers = (progress as { workers: string[] }).workers;
    expect(workers).toContain(here);
    expect(workers).not.toContain(elsewhere);
  });
});
