// Measures the two candidate job queues (issue 14) on a real PostgreSQL: install time, bulk
// enqueue of N keyed jobs, a second enqueue of the same keys (must add nothing), and the claim
// throughput of one fetch loop. Usage: node scripts/queue-engines.mjs <database-url> [jobs]
// graphile-worker is not a dependency (the comparison chose pg-boss): install it first with
// `npm install --no-save graphile-worker@0.16`.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { makeWorkerUtils } from 'graphile-worker';
import { v5 as uuidv5 } from 'uuid';

const url = process.argv[2];
const total = Number(process.argv[3] ?? 100_000);
if (!url) throw new Error('usage: node scripts/queue-engines.mjs <database-url> [jobs]');
const NS = '4f7c1b52-3a3e-4b8e-9d0b-1b1f5c8a9e10';
const CHUNK = 5_000;
// Claims measured one at a time against the full queue (fetch + complete, as a worker does).
const CLAIMS = 200;
const ms = (t) => Math.round(performance.now() - t);

async function pgBoss() {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('DROP SCHEMA IF EXISTS qbench_boss CASCADE');
  let t = performance.now();
  const boss = new PgBoss({ connectionString: url, schema: 'qbench_boss', supervise: false, schedule: false });
  boss.on('error', (e) => console.error(e));
  await boss.start();
  const install = ms(t);
  await boss.createQueue('store', { name: 'store', retryLimit: 2, retryBackoff: true, retryDelay: 1, expireInSeconds: 120 });
  const enqueue = async () => {
    const t0 = performance.now();
    for (let i = 0; i < total; i += CHUNK) {
      const jobs = [];
      for (let k = i; k < Math.min(total, i + CHUNK); k++) jobs.push({ id: uuidv5(`plan-1/store-${k}`, NS), name: 'store', data: { store: k } });
      await boss.insert(jobs);
    }
    return ms(t0);
  };
  const first = await enqueue();
  console.error(`enqueued ${total} in ${first} ms`);
  const second = await enqueue();
  const count = Number((await admin.query("SELECT count(*) FROM qbench_boss.job WHERE name = 'store'")).rows[0].count);
  t = performance.now();
  let claimed = 0;
  for (let i = 0; i < CLAIMS; i++) {
    const [job] = await boss.fetch('store');
    await boss.complete('store', job.id);
    claimed++;
  }
  const claimMs = (performance.now() - t) / claimed;
  await boss.stop({ graceful: false, wait: true });
  await admin.query('DROP SCHEMA qbench_boss CASCADE');
  await admin.end();
  return { engine: 'pg-boss 10.4.2', installMs: install, enqueueMs: first, jobsPerSecond: Math.round(total / (first / 1000)), reenqueueMs: second, jobsAfterReenqueue: count, claimAndCompleteMs: Number(claimMs.toFixed(2)) };
}

async function graphile() {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('DROP SCHEMA IF EXISTS qbench_gw CASCADE');
  let t = performance.now();
  const utils = await makeWorkerUtils({ connectionString: url, schema: 'qbench_gw' });
  await utils.migrate();
  const install = ms(t);
  // 0.16 has no JS bulk helper; add_jobs(job_spec[]) is its bulk SQL entry point.
  const enqueue = async () => {
    const t0 = performance.now();
    for (let i = 0; i < total; i += CHUNK) {
      const specs = [];
      for (let k = i; k < Math.min(total, i + CHUNK); k++) specs.push({ identifier: 'store', payload: { store: k }, job_key: `plan-1/store-${k}`, max_attempts: 3 });
      await admin.query(
        `SELECT count(*) FROM qbench_gw.add_jobs(ARRAY(SELECT ROW(s->>'identifier', s->'payload', NULL, NULL, (s->>'max_attempts')::int, s->>'job_key', NULL, NULL)::qbench_gw.job_spec FROM json_array_elements($1::json) s), true)`,
        [JSON.stringify(specs)],
      );
    }
    return ms(t0);
  };
  const first = await enqueue();
  console.error(`enqueued ${total} in ${first} ms`);
  const second = await enqueue();
  const count = Number((await admin.query('SELECT count(*) FROM qbench_gw._private_jobs')).rows[0].count);
  await utils.release();
  await admin.query('DROP SCHEMA qbench_gw CASCADE');
  await admin.end();
  return { engine: 'graphile-worker 0.16.6', installMs: install, enqueueMs: first, jobsPerSecond: Math.round(total / (first / 1000)), reenqueueMs: second, jobsAfterReenqueue: count };
}

for (const run of [pgBoss, graphile]) console.log(JSON.stringify(await run()));
