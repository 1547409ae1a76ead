/**
 * `npm run bench:verify` (also part of `npm run bench`): how long `kubetrail verify` takes to
 * recompute the store's hash chain over a large store, against reading the same rows.
 *
 *   baseline  SELECT every event row with its bodies in id order (what verify must read at
 *             least), in this process, no hashing and no dimension lookups
 *   verify    `kubetrail verify --output json`, a child process
 *
 * The store holds BENCH_ACTIONS events (default 10,000,000) from the ingest generator, stored
 * by `kubetrail ingest -` (BENCH_DB=path keeps or reuses it: building takes minutes).
 * BENCH_RUNS (default 3) runs; medians. Target: verify ≤ 60 s for 10,000,000 events.
 * Prints a table and, last, `BENCH_JSON {...}`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';

import { buildStore } from './buildStore.js';
import { CLI } from './child.js';
import { DEFAULT_SEED } from '../shared/demo/generateEvents.js';
import { envInt, gitRevision, int, median, pad } from './report.js';

const TARGET_SECONDS = 60;

function baseline(dbPath: string): { seconds: number; rows: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const started = performance.now();
    let rows = 0;
    for (const _ of db.prepare('SELECT e.*, b.request, b.response FROM events e LEFT JOIN bodies b ON b.event_id = e.id ORDER BY e.id').raw().iterate()) rows++;
    return { seconds: (performance.now() - started) / 1000, rows };
  } finally {
    db.close();
  }
}

function verify(dbPath: string): { seconds: number; rows: number; ok: boolean; links: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'verify', '--db', dbPath, '--output', 'json'], { encoding: 'utf8', env: { ...process.env, KUBETRAIL_CONFIG: '' }, maxBuffer: 1 << 26 });
  const seconds = (performance.now() - started) / 1000;
  const report = JSON.parse(r.stdout) as { ok: boolean; rows: number; links: number };
  return { seconds, rows: report.rows, ok: report.ok && r.status === 0, links: report.links };
}

async function main(): Promise<void> {
  const n = envInt('BENCH_ACTIONS', 10_000_000);
  const runs = envInt('BENCH_RUNS', 3);
  const keep = process.env.BENCH_DB;
  const dir = keep ? null : mkdtempSync(join(tmpdir(), 'kubetrail-bench-verify-'));
  const dbPath = keep ?? join(dir!, 'kubetrail.db');
  try {
    if (!existsSync(dbPath)) await buildStore(dbPath, n, envInt('BENCH_SEED', DEFAULT_SEED));
    console.log(`kubetrail verify benchmark — revision ${gitRevision() ?? 'unknown'}, store ${dbPath}`);
    const results: { a: number; v: number; rows: number; links: number; ok: boolean }[] = [];
    for (let i = 1; i <= runs; i++) {
      const a = baseline(dbPath);
      const v = verify(dbPath);
      results.push({ a: a.seconds, v: v.seconds, rows: v.rows, links: v.links, ok: v.ok });
      console.log(`  run ${i}: baseline read ${pad(a.seconds.toFixed(1), 5)} s (${int(a.rows)} rows)   verify ${pad(v.seconds.toFixed(1), 5)} s (${int(v.rows)} rows, ${int(v.links)} links, ${v.ok ? 'OK' : 'FAILED'})   ${(v.seconds / a.seconds).toFixed(2)}× the read`);
    }
    const med = { baselineSeconds: median(results.map((r) => r.a)), verifySeconds: median(results.map((r) => r.v)) };
    const rows = results[0]!.rows;
    // The target is for 10M events; a smaller store is judged pro rata.
    const limit = (TARGET_SECONDS * rows) / 10_000_000;
    const pass = med.verifySeconds <= limit && results.every((r) => r.ok);
    console.log(`\nmedian: verify ${med.verifySeconds.toFixed(1)} s for ${int(rows)} events (${int(rows / med.verifySeconds)} events/s), the read alone ${med.baselineSeconds.toFixed(1)} s (ratio ${(med.verifySeconds / med.baselineSeconds).toFixed(2)})`);
    console.log(`target: ≤ ${limit.toFixed(1)} s (60 s per 10M events): ${pass ? 'PASS' : 'FAIL'}`);
    console.log(`BENCH_JSON ${JSON.stringify({ rows, ...med, limit, pass, runs: results })}`);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
