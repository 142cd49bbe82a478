// SPDX-License-Identifier: MIT
// pg-boss doing what bench_queue measures of herald on PostgreSQL: single
// enqueue, enqueue in batches of 100 (insert), and lease + complete with
// its own worker at its best settings for 2 cores (work() with
// localConcurrency 4, batchSize 500, burst while batches come back full).
// Prints one JSON object of jobs/s. Run by benchmarks/peers/run-postgres.
import { PgBoss } from "pg-boss";

const url = process.env.HERALD_TEST_POSTGRES;
const jobs = Number(process.env.JOBS ?? 20000);
const payload = { image: "uploads/2026/11/23/cat-0001.jpg", width: 640, height: 480 };
const batch = Array.from({ length: 100 }, () => ({ data: payload }));

async function rate(count, fn) {
  const start = process.hrtime.bigint();
  await fn();
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

const boss = new PgBoss({ connectionString: url, schema: "pgboss_peer", max: 10 });
boss.on("error", (e) => console.error("pg-boss:", e.message));
await boss.start();
for (const q of ["single", "batch", "worked"]) await boss.createQueue(q);

const single = await rate(jobs, async () => {
  for (let i = 0; i < jobs; ++i) await boss.send("single", payload);
});
const batch100 = await rate(jobs, async () => {
  for (let i = 0; i < jobs; i += 100) await boss.insert("batch", batch);
});

for (let i = 0; i < jobs; i += 100) await boss.insert("worked", batch);  // not timed
let done = 0;
let finished;
const all = new Promise((resolve) => (finished = resolve));
const worked = await rate(jobs, async () => {
  await boss.work(
    "worked",
    { localConcurrency: 4, batchSize: 500, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
    async (js) => {
      done += js.length;
      if (done >= jobs) finished();
    },
  );
  await all;
  await boss.stop({ graceful: true, wait: true });  // the last completions are written
});
console.log(JSON.stringify({ single, batch100, worked }));
