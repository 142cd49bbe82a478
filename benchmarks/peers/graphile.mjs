// SPDX-License-Identifier: MIT
// graphile-worker doing what bench_queue measures of herald on PostgreSQL:
// single enqueue (addJob), enqueue in batches of 100 (addJobs), and lease +
// complete with its own runner at its best settings for 2 cores
// (concurrency 10, a local queue of 500, completions batched). Prints one
// JSON object of jobs/s. Run by benchmarks/peers/run-postgres.
import { Logger, makeWorkerUtils, run } from "graphile-worker";

const url = process.env.HERALD_TEST_POSTGRES;
const jobs = Number(process.env.JOBS ?? 20000);
const payload = { image: "uploads/2026/11/23/cat-0001.jpg", width: 640, height: 480 };
const schema = "graphile_peer";
const logger = new Logger(() => () => {});  // one line per job would be the benchmark

async function rate(count, fn) {
  const start = process.hrtime.bigint();
  await fn();
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

const utils = await makeWorkerUtils({ connectionString: url, schema, logger });
await utils.migrate();
const batch = (task) => Array.from({ length: 100 }, () => ({ identifier: task, payload }));

const single = await rate(jobs, async () => {
  for (let i = 0; i < jobs; ++i) await utils.addJob("single", payload);
});
const batch100 = await rate(jobs, async () => {
  for (let i = 0; i < jobs; i += 100) await utils.addJobs(batch("batched"));
});
// The jobs above have no task here and stay unworked: clear them.
await utils.withPgClient((c) => c.query(`DELETE FROM ${schema}._private_jobs`));

for (let i = 0; i < jobs; i += 100) await utils.addJobs(batch("worked"));  // not timed
let done = 0;
let finished;
const all = new Promise((resolve) => (finished = resolve));
const worked = await rate(jobs, async () => {
  const runner = await run({
    connectionString: url,
    schema,
    concurrency: 10,
    noHandleSignals: true,
    pollInterval: 500,
    taskList: {
      worked: async () => {
        if (++done >= jobs) finished();
      },
    },
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0 } },
    logger,
  });
  await all;
  await runner.stop();  // the last completions are written
});
await utils.release();
console.log(JSON.stringify({ single, batch100, worked }));
