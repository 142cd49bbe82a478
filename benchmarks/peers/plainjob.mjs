// SPDX-License-Identifier: MIT
// plainjob (on better-sqlite3: WAL, synchronous=NORMAL, as herald's default)
// doing what bench_queue measures of herald: single enqueue, enqueue in
// batches of 100, and lease + complete with plainjob's fastest loop
// (getAndMarkJobAsProcessing + markJobAsDone, synchronous). Prints one JSON
// object of jobs/s. Run by benchmarks/peers/run-plainjob.
import Database from "better-sqlite3";
import { better, defineQueue } from "plainjob";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const jobs = Number(process.env.JOBS ?? 20000);
const payload = { image: "uploads/2026/11/23/cat-0001.jpg", width: 640, height: 480 };

function withQueue(name, work) {
  const path = join(tmpdir(), `herald-peer-plainjob-${name}-${process.pid}.db`);
  const remove = () => {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  };
  remove();
  const db = new Database(path);
  const queue = defineQueue({ connection: better(db) });
  try {
    return work(queue);
  } finally {
    queue.close();
    db.close();
    remove();
  }
}

function rate(count, fn) {
  const start = process.hrtime.bigint();
  fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return count / seconds;
}

const single = withQueue("single", (q) =>
  rate(jobs, () => {
    for (let i = 0; i < jobs; ++i) q.add("resize", payload);
  }),
);

const batch = Array.from({ length: 100 }, () => payload);
const batch100 = withQueue("batch", (q) =>
  rate(jobs, () => {
    for (let i = 0; i < jobs; i += 100) q.addMany("resize", batch);
  }),
);

const leaseComplete = withQueue("lease", (q) => {
  for (let i = 0; i < jobs; i += 100) q.addMany("resize", batch);  // not timed
  let done = 0;
  const r = rate(jobs, () => {
    for (;;) {
      const job = q.getAndMarkJobAsProcessing("resize");
      if (!job) break;
      q.markJobAsDone(job.id);
      ++done;
    }
  });
  if (done !== jobs) throw new Error(`completed ${done} of ${jobs}`);
  return r;
});

console.log(JSON.stringify({ single, batch100, leaseComplete }));
