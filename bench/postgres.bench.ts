/**
 * `npm run bench:postgres`: kubetrail storing into PostgreSQL, against a bare COPY of the same
 * events measured in the same run on the same server.
 *
 *   a  baseline: read the file, JSON.parse each line, COPY (auditID, stage, request time, verb,
 *      username, the line) into an unindexed table: what storing the events at all costs
 *   b  `kubetrail ingest FILE --db postgres://…` into a new database
 *   c  two `kubetrail ingest` processes at once, each with half the file, into a new database
 *   q  in this process, through the query port, over b's store grown to BENCH_QUERY_EVENTS
 *      (default 10,000,000): b's events and usage rollups copied by SQL to earlier days (each
 *      copy two days before the last), then ANALYZE: a user's last 24 h (first page of 100),
 *      one object's history (first page of 100), and the 30-day usage report (the rollups read
 *      and analysed against an RBAC snapshot granting nothing: every request is drift)
 *
 * Reports b/a, c/b (what a second writer adds), bytes per event of b's database (its size less
 * an empty one's), peak RSS of b and of each of c, and the p50/p95 of q.
 *
 * The server: BENCH_POSTGRES_URL, else KUBETRAIL_TEST_POSTGRES_URL, else one started with
 * test/infra/postgres/pg.sh for the run. Environment: BENCH_EVENTS (default 1,000,000),
 * BENCH_SAMPLES (default 60), BENCH_SEED, BENCH_KEEP=1 (keep b's store and print its URL). Prints a table and, last, `BENCH_JSON {...}`. Targets
 * (issue 21): b/a ≥ 0.5, c/b ≥ 1.5, ≤ 350 bytes/event, p95 ≤ 50 ms (events, history) and ≤ 1 s
 * (the report), peak RSS ≤ 300 MB.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { collect } from '../shared/rows.js';
import { usageReport } from '../shared/analysis/usageWindow.js';
import { emptyState } from '../shared/rbac/types.js';
import { EVENT_ROW_COLUMNS } from '../shared/storage/postgres/pgBatchStore.js';
import { pgQueryStore } from '../shared/storage/postgres/pgQueryStore.js';
import { openPgStore } from '../shared/storage/postgres/pgStore.js';
import { pickRssMethod, startMeasured } from './child.js';
import { DEFAULT_SEED, Rng, writeEventsFile } from '../shared/demo/generateEvents.js';
import { envInt, gitRevision, int, pad } from './report.js';

const PG_SH = fileURLToPath(new URL('../../test/infra/postgres/pg.sh', import.meta.url));
const KEY = 'ab'.repeat(32);
const TARGETS = { ba: 0.5, cb: 1.5, bytes: 350, p95: 50, reportP95: 1000, rssMB: 300 };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function newDatabase(server: string, name: string): Promise<string> {
  await sql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await sql(server, `CREATE DATABASE ${name}`);
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

const size = async (url: string) => Number((await sql<{ n: string }>(url, 'SELECT pg_database_size(current_database()) AS n'))[0]!.n);

/** a: JSON.parse each line and COPY a few columns and the line into an unindexed table. */
async function bareCopy(url: string, file: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE raw_events (audit_id text, stage text, received_at text, verb text, username text, line text)');
    const started = performance.now();
    const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
    async function* rows() {
      let chunk = '';
      for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        const e = JSON.parse(line) as { auditID: string; stage: string; requestReceivedTimestamp: string; verb: string; user: { username?: string } };
        chunk += [e.auditID, e.stage, e.requestReceivedTimestamp, e.verb, e.user.username ?? '', line].map(esc).join('\t') + '\n';
        if (chunk.length > 1 << 20) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    await pipeline(Readable.from(rows()), c.query(copyStreams.from('COPY raw_events FROM STDIN')));
    return (performance.now() - started) / 1000;
  } finally {
    await c.end();
  }
}

async function ingest(url: string, files: string[], dir: string): Promise<{ seconds: number; peakMB: number[] }> {
  const method = pickRssMethod();
  const started = performance.now();
  const runs = files.map((f, i) => {
    const cwd = join(dir, `run-${i}`);
    spawnSync('mkdir', ['-p', cwd]);
    return startMeasured(method, ['ingest', f, '--db', url, '--output', 'json'], cwd, { KUBETRAIL_REDACTION_KEY: KEY, KUBETRAIL_CONFIG: '' }).done;
  });
  const done = await Promise.all(runs);
  const seconds = (performance.now() - started) / 1000;
  for (const d of done) if (d.code !== 0) throw new Error(`kubetrail ingest exited with ${d.code}: ${d.stderrTail}`);
  return { seconds, peakMB: done.map((d) => d.peakRssKB / 1024) };
}

/**
 * Grows a store of `stored` events to at least `target` by copying its events (bodies aside) and
 * usage rollups to earlier days, two days apart per copy, with new auditIDs; returns the count.
 */
async function grow(url: string, stored: number, target: number): Promise<number> {
  const copies = Math.max(0, Math.ceil(target / stored) - 1);
  const day = 86_400_000_000;
  for (let k = 1; k <= copies; k++) {
    const shift = 2 * k * day;
    await sql(url, `INSERT INTO events (${EVENT_ROW_COLUMNS.join(', ')})
      SELECT ${EVENT_ROW_COLUMNS.map((c) => (c === 'received_at' ? `received_at - ${shift}` : c === 'audit_id' ? `audit_id || '-${k}'` : c)).join(', ')} FROM events WHERE audit_id NOT LIKE '%-%-%-%-%-%'`);
    await sql(url, `INSERT INTO usage_daily SELECT cluster_id, day - ${2 * k}, subject_id, atom_id, decision, reason_id, synthetic, count, first_at - ${shift}, last_at - ${shift}, first_audit, last_audit
      FROM usage_daily WHERE day >= (SELECT max(day) - 1 FROM usage_daily) ON CONFLICT DO NOTHING`);
  }
  await sql(url, 'ANALYZE');
  return Number((await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM events'))[0]!.n);
}

async function main(): Promise<void> {
  const n = envInt('BENCH_EVENTS', 1_000_000);
  const samples = envInt('BENCH_SAMPLES', 60);
  const queryEvents = envInt('BENCH_QUERY_EVENTS', 10_000_000);
  const seed = envInt('BENCH_SEED', DEFAULT_SEED);
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-pg-'));
  let server = process.env.BENCH_POSTGRES_URL || process.env.KUBETRAIL_TEST_POSTGRES_URL || '';
  const started = !server;
  const pgRun = join(dir, 'pg');
  if (started) {
    const r = spawnSync('bash', [PG_SH, 'start'], { encoding: 'utf8', env: { ...process.env, KUBETRAIL_PG_RUN: pgRun } });
    if (r.status !== 0) throw new Error(`could not start PostgreSQL: ${r.stderr}`);
    server = r.stdout.trim().split('=').slice(1).join('=');
  }
  try {
    process.stdout.write(`kubetrail on PostgreSQL — ${int(n)} events, node ${process.version}, revision ${gitRevision() ?? 'unknown'}, server ${(await sql<{ v: string }>(server, 'SELECT current_setting($$server_version$$) AS v'))[0]!.v}\n`);
    const file = join(dir, 'events.jsonl');
    const half = [join(dir, 'half-1.jsonl'), join(dir, 'half-2.jsonl')];
    await writeEventsFile(file, n, { seed, requestsPerSecond: 10 });
    // The halves: the same events, alternate lines, so that both writers work on the same days.
    const outs = half.map((h) => createWriteStream(h));
    let i = 0;
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      const out = outs[i++ % 2]!;
      if (!out.write(line + '\n')) await once(out, 'drain');
    }
    await Promise.all(outs.map((o) => new Promise((r) => o.end(r))));

    const aUrl = await newDatabase(server, 'kt_bench_a');
    const aSeconds = await bareCopy(aUrl, file);
    const bUrl = await newDatabase(server, 'kt_bench_b');
    const empty = await (async () => {
      const s = await openPgStore(bUrl, { clock: Date.now });
      await s.close();
      return size(bUrl);
    })();
    const b = await ingest(bUrl, [file], dir);
    const bBytes = ((await size(bUrl)) - empty) / n;
    const stored = Number((await sql<{ n: string }>(bUrl, 'SELECT count(*) AS n FROM events'))[0]!.n);
    const cUrl = await newDatabase(server, 'kt_bench_c');
    const c = await ingest(cUrl, half, dir);
    const cStored = Number((await sql<{ n: string }>(cUrl, 'SELECT count(*) AS n FROM events'))[0]!.n);

    // q: b's store grown to queryEvents by copies of its events and rollups on earlier days.
    const tGrow = performance.now();
    const grown = await grow(bUrl, stored, queryEvents);
    const growSeconds = (performance.now() - tGrow) / 1000;
    // Questions through the query port, with parameters drawn from the store.
    const rng = new Rng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(rng.float() * xs.length)]!;
    const end = Number((await sql<{ t: string }>(bUrl, 'SELECT max(received_at) AS t FROM events'))[0]!.t);
    const users = (await sql<{ username: string }>(bUrl, `SELECT DISTINCT p.username FROM events e JOIN principals p ON p.id = e.user_id WHERE e.received_at >= $1 LIMIT 50`, [end - 86_400_000_000])).map((r) => r.username);
    const objects = await sql<{ resource: string; namespace: string; name: string }>(bUrl, `SELECT resource, namespace, name FROM objects WHERE name <> '' ORDER BY id LIMIT 200`);
    // As a database in use has: statistics (autovacuum gathers them; a fresh load has none yet).
    await sql(bUrl, 'ANALYZE');
    const store = await openPgStore(bUrl, { clock: Date.now });
    const q = pgQueryStore(store);
    const time = async (ask: () => Promise<unknown>, times = samples) => {
      const ms: number[] = [];
      for (let k = 0; k < times; k++) {
        const s = performance.now();
        await ask();
        ms.push(performance.now() - s);
      }
      return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
    };
    await q.snapshots.save({ cluster: 'default', takenAt: end, source: 'bench', state: emptyState(), summary: { clusterRoles: 0, roles: 0, clusterRoleBindings: 0, roleBindings: 0, serviceAccounts: 0, apiResources: 0, skipped: {}, problems: [], aggregationPending: [] } });
    const month = { cluster: 'default', since: end - 30 * 86_400_000_000, until: end + 1, minDays: 1 };
    const reportOnce = await usageReport(q, { kind: 'snapshot' }, month);
    const report = await time(() => usageReport(q, { kind: 'snapshot' }, month), Math.min(samples, 20));
    const user24h = await time(() => collect(q.events.actions({ user: pick(users), since: end - 86_400_000_000, until: end + 1, limit: 100 })));
    const history = await time(() => {
      const o = pick(objects);
      return collect(q.events.actions({ resource: o.resource, namespace: o.namespace, name: o.name, limit: 100 }));
    });
    await store.close();

    const aRate = n / aSeconds;
    const bRate = n / b.seconds;
    const cRate = n / c.seconds;
    const rows: [string, string, string][] = [
      ['a bare COPY', `${aSeconds.toFixed(1)} s`, `${int(aRate)} ev/s`],
      ['b kubetrail ingest', `${b.seconds.toFixed(1)} s`, `${int(bRate)} ev/s  b/a ${(bRate / aRate).toFixed(2)}  ${bBytes.toFixed(0)} B/event  peak RSS ${b.peakMB[0]!.toFixed(0)} MB  stored ${int(stored)}`],
      ['c two writers', `${c.seconds.toFixed(1)} s`, `${int(cRate)} ev/s  c/b ${(cRate / bRate).toFixed(2)}  peak RSS ${c.peakMB.map((m) => m.toFixed(0)).join(' and ')} MB  stored ${int(cStored)}`],
      ['q store grown', `${growSeconds.toFixed(1)} s`, `${int(grown)} events stored for the questions`],
      ['q user 24 h', `p50 ${user24h.p50.toFixed(1)} ms`, `p95 ${user24h.p95.toFixed(1)} ms`],
      ['q history', `p50 ${history.p50.toFixed(1)} ms`, `p95 ${history.p95.toFixed(1)} ms`],
      ['q 30-day report', `p50 ${report.p50.toFixed(0)} ms`, `p95 ${report.p95.toFixed(0)} ms  (${int(reportOnce.subjects.length)} subjects, ${int(reportOnce.subjects.reduce((n, x) => n + x.requests.total, 0))} requests)`],
    ];
    for (const [name, x, y] of rows) process.stdout.write(`${name.padEnd(20)}${pad(x, 12)}   ${y}\n`);
    const checks = [
      ['b/a events/s', bRate / aRate, '>=', TARGETS.ba],
      ['c/b events/s', cRate / bRate, '>=', TARGETS.cb],
      ['b bytes/event', bBytes, '<=', TARGETS.bytes],
      ['b peak RSS MB', b.peakMB[0]!, '<=', TARGETS.rssMB],
      ['c peak RSS MB', Math.max(...c.peakMB), '<=', TARGETS.rssMB],
      ['q user 24 h p95 ms', user24h.p95, '<=', TARGETS.p95],
      ['q history p95 ms', history.p95, '<=', TARGETS.p95],
      ['q 30-day report p95 ms', report.p95, '<=', TARGETS.reportP95],
    ] as const;
    for (const [name, v, op, limit] of checks) {
      const pass = op === '>=' ? v >= limit : v <= limit;
      process.stdout.write(`  ${name.padEnd(22)}${pad(v.toFixed(2), 10)}   target ${op} ${limit}   ${pass ? 'PASS' : 'FAIL'}\n`);
    }
    if (stored !== cStored) process.stdout.write(`  WARNING: one writer stored ${stored} events, two writers ${cStored}\n`);
    process.stdout.write(
      `BENCH_JSON ${JSON.stringify({ events: n, revision: gitRevision(), a: { seconds: aSeconds, eventsPerSec: aRate }, b: { seconds: b.seconds, eventsPerSec: bRate, bytesPerEvent: bBytes, peakRssMB: b.peakMB[0], stored }, c: { seconds: c.seconds, eventsPerSec: cRate, peakRssMB: c.peakMB, stored: cStored }, q: { storedEvents: grown, user24h, history, report }, targets: TARGETS })}\n`,
    );
    // BENCH_KEEP=1 keeps b's store (grown) to look at: its URL is printed.
    const keep = process.env.BENCH_KEEP === '1';
    for (const name of ['kt_bench_a', 'kt_bench_b', 'kt_bench_c']) if (!(keep && name === 'kt_bench_b')) await sql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    if (keep) process.stdout.write(`kept: ${bUrl}\n`);
  } finally {
    if (started) spawnSync('bash', [PG_SH, 'stop'], { env: { ...process.env, KUBETRAIL_PG_RUN: pgRun } });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
