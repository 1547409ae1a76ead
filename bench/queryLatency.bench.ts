/**
 * `npm run bench:query` (also part of `npm run bench`): latency of the query API's common
 * questions over a large store, through real HTTP to `kubetrail serve --services api`.
 *
 * The store holds BENCH_ACTIONS events (default 10,000,000) from the ingest benchmark's
 * generator at 10 requests/s (about 12 days of a busy cluster), stored by `kubetrail ingest -`.
 * Fourteen queries, each over BENCH_SAMPLES requests (default 60) with parameters drawn from the store:
 *
 *   user-24h      GET /events?user=U&since=…&until=…          (a user's last 24 h)
 *   history       GET /history?resource=&namespace=&name=     (one object's history)
 *   ns-verb       GET /events?namespace=N&verb=V              (namespace and verb)
 *   finding-7d    GET /events?finding=RULE&since=…&until=…    (a finding over 7 days)
 *   timeline      GET /identities/ID/timeline?bucket=hour&since=…&until=… (an identity over 7 days)
 *   identities    GET /identities?since=…&until=…             (every identity over the whole store)
 *   ident-24h     GET /identities?since=…&until=…             (the identities of the last 24 h)
 *   identity      GET /identities/ID                          (one identity's summary)
 *   alerts        GET /alerts                                 (the newest alerts)
 *   ingest        GET /ingest/status                          (each cluster's ingest)
 *   breakglass    GET /breakglass/checkouts                   (break-glass checkouts)
 *   quarantine    GET /quarantine                             (the newest quarantined input)
 *   self-audit    GET /self-audit                             (the newest of kubetrail's own audit)
 *   usage-report  GET /rbac/report?since=…                    (granted against used, 30 days)
 *
 * Each answers its first page (limit 100). Baselines measured in the same run: GET /healthz
 * (the HTTP round trip alone) and the same questions as the bare indexed SQL in this
 * process (ids only, no joins, no rebuilding of events).
 *
 * Environment: BENCH_ACTIONS, BENCH_SAMPLES, BENCH_DB=path (reuse or keep the store there:
 * building it takes minutes), BENCH_SEED. Prints a table and, last, `BENCH_JSON {...}`.
 * Target: p95 ≤ 100 ms for each query's first page.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { hashToken } from '../shared/access.js';
import { formatMicroTime } from '../shared/audit/time.js';
import { CLI } from './child.js';
import { buildStore } from './buildStore.js';
import { DEFAULT_SEED, Rng } from '../shared/demo/generateEvents.js';
import { envInt, gitRevision, int, pad } from './report.js';

const TARGET_P95_MS = 100;
const TOKEN = 'bench-admin-token-0123456789';
const DAY = 86_400_000_000;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Stores `n` generated events with `kubetrail ingest -`, fed from this process. */
interface Query {
  name: string;
  paths: string[];
  /** The same question as bare SQL: ids of the first page. */
  sql: { text: string; params: unknown[][] };
}

/** Parameters drawn from the store, so that every query asks about something that is there. */
function queries(dbPath: string, samples: number, seed: number): Query[] {
  const db = new Database(dbPath, { readonly: true });
  const rng = new Rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng.float() * xs.length)]!;
  const end = db.prepare('SELECT max(received_at) FROM events').pluck().get() as number;
  const start = db.prepare('SELECT min(received_at) FROM events').pluck().get() as number;
  const maxId = db.prepare('SELECT max(id) FROM events').pluck().get() as number;
  const t = (micros: number) => encodeURIComponent(formatMicroTime(micros));
  const randomEvents = (where: string, k: number) => {
    const stmt = db.prepare(`SELECT * FROM events WHERE id >= ? AND ${where} ORDER BY id LIMIT 1`);
    const out: Record<string, unknown>[] = [];
    for (let i = 0; out.length < k && i < k * 50; i++) {
      const r = stmt.get(1 + Math.floor(rng.float() * maxId)) as Record<string, unknown> | undefined;
      if (r) out.push(r);
    }
    return out;
  };
  const lastDay = randomEvents(`received_at >= ${end - DAY}`, 20).map((e) => e.user_id as number);
  const users = [...new Set(lastDay)].map((id) => [id, db.prepare('SELECT username FROM principals WHERE id = ?').pluck().get(id) as string] as const);
  const objects = randomEvents("EXISTS (SELECT 1 FROM objects o WHERE o.id = object_id AND o.name <> '')", 20).map((e) => db.prepare('SELECT o.*, e.object_id AS oid FROM objects o, (SELECT ? AS object_id) e WHERE o.id = e.object_id').get(e.object_id) as { oid: number; api_group: string; resource: string; namespace: string; name: string });
  const nsVerbs = randomEvents("object_id IS NOT NULL AND verb_id > 0", 20).map((e) => ({
    namespace: db.prepare('SELECT namespace FROM objects WHERE id = ?').pluck().get(e.object_id) as string,
    verb: db.prepare('SELECT verb FROM verbs WHERE id = ?').pluck().get(e.verb_id) as string,
  })).filter((x) => x.namespace !== '');
  const rules = db.prepare('SELECT DISTINCT rule FROM alerts').pluck().all() as string[];
  const identities = [...new Set(randomEvents(`received_at >= ${end - 7 * DAY}`, 20).map((e) => db.prepare('SELECT identity_key FROM identities WHERE principal_id = ?').pluck().get(e.user_id) as string | undefined).filter((x): x is string => x !== undefined))];
  db.close();
  const n = (f: () => string) => Array.from({ length: samples }, f);
  const userSamples = n(() => JSON.stringify(pick(users)));
  const objectSamples = Array.from({ length: samples }, () => pick(objects));
  const nsSamples = Array.from({ length: samples }, () => pick(nsVerbs));
  const ruleSamples = Array.from({ length: samples }, () => pick(rules));
  return [
    {
      name: 'user-24h',
      paths: userSamples.map((u) => `/events?user=${encodeURIComponent(JSON.parse(u)[1])}&since=${t(end - DAY)}&until=${t(end + 1)}`),
      sql: { text: 'SELECT id FROM events WHERE user_id = ? AND received_at >= ? ORDER BY received_at DESC LIMIT 101', params: userSamples.map((u) => [JSON.parse(u)[0], end - DAY]) },
    },
    {
      name: 'history',
      paths: objectSamples.map((o) => `/history?apiGroup=${encodeURIComponent(o.api_group)}&resource=${o.resource}&name=${encodeURIComponent(o.name)}${o.namespace ? `&namespace=${o.namespace}` : ''}`),
      sql: { text: 'SELECT id FROM events WHERE object_id = ? ORDER BY received_at DESC LIMIT 101', params: objectSamples.map((o) => [o.oid]) },
    },
    {
      name: 'ns-verb',
      paths: nsSamples.map((x) => `/events?namespace=${x.namespace}&verb=${x.verb}`),
      sql: {
        text: 'SELECT e.id FROM events e WHERE e.object_id IN (SELECT id FROM objects WHERE namespace = ?) AND e.verb_id = (SELECT id FROM verbs WHERE verb = ?) ORDER BY e.received_at DESC LIMIT 101',
        params: nsSamples.map((x) => [x.namespace, x.verb]),
      },
    },
    {
      name: 'finding-7d',
      paths: ruleSamples.map((r) => `/events?finding=${r}&since=${t(end - 7 * DAY)}&until=${t(end + 1)}`),
      sql: { text: 'SELECT ae.audit_id FROM alert_events ae JOIN alerts a ON a.id = ae.alert_id WHERE a.rule = ? AND a.last_at >= ? LIMIT 101', params: ruleSamples.map((r) => [r, end - 7 * DAY]) },
    },
    {
      name: 'identities',
      paths: n(() => `/identities?since=${t(start)}&until=${t(end + 1)}&limit=100`),
      sql: { text: 'SELECT principal_id, sum(actions) AS n FROM principal_activity WHERE hour >= ? GROUP BY principal_id ORDER BY n DESC LIMIT 101', params: n(() => JSON.stringify([Math.floor(start / 3_600_000_000)])).map((x) => JSON.parse(x) as unknown[]) },
    },
    {
      name: 'ident-24h',
      paths: n(() => `/identities?since=${t(end - DAY)}&until=${t(end + 1)}&limit=100`),
      sql: { text: 'SELECT principal_id, sum(actions) AS n FROM principal_activity WHERE hour >= ? GROUP BY principal_id ORDER BY n DESC LIMIT 101', params: n(() => JSON.stringify([Math.floor((end - DAY) / 3_600_000_000)])).map((x) => JSON.parse(x) as unknown[]) },
    },
    {
      name: 'identity',
      paths: n(() => `/identities/${encodeURIComponent(pick(identities))}?since=${t(start)}&until=${t(end + 1)}`),
      sql: {
        text: 'SELECT sum(actions) FROM principal_activity WHERE principal_id IN (SELECT principal_id FROM identities WHERE identity_key = ?)',
        params: n(() => JSON.stringify([pick(identities)])).map((x) => JSON.parse(x) as unknown[]),
      },
    },
    {
      name: 'timeline',
      paths: Array.from({ length: samples }, () => `/identities/${encodeURIComponent(pick(identities))}/timeline?bucket=hour&since=${t(end - 7 * DAY)}&until=${t(end + 1)}`),
      sql: {
        text: 'SELECT received_at / 3600000000 AS h, count(*) FROM events WHERE user_id IN (SELECT principal_id FROM identities WHERE identity_key = ?) AND received_at >= ? GROUP BY h',
        params: Array.from({ length: samples }, () => [pick(identities), end - 7 * DAY]),
      },
    },
    ...([
      ['alerts', '/alerts', 'SELECT id FROM alerts ORDER BY last_at DESC LIMIT 101'],
      ['ingest', '/ingest/status', 'SELECT cluster_id, max(day) FROM usage_daily GROUP BY cluster_id'],
      ['breakglass', '/breakglass/checkouts', 'SELECT id FROM breakglass_checkouts ORDER BY id DESC'],
      ['quarantine', '/quarantine', 'SELECT id FROM quarantine ORDER BY id DESC LIMIT 101'],
      ['self-audit', '/self-audit', 'SELECT id FROM self_audit ORDER BY id DESC LIMIT 101'],
      ['usage-report', `/rbac/report?cluster=bench&since=${t(end - 30 * DAY)}&until=${t(end + 1)}`, `SELECT subject_id, count(*) FROM usage_daily WHERE day >= ${Math.floor((end - 30 * DAY) / DAY)} GROUP BY subject_id`],
    ] as const).map(([name, path, text]) => ({ name, paths: n(() => path), sql: { text, params: n(() => '').map(() => []) } })),
  ];
}

async function startServer(dir: string, db: string): Promise<{ url: string; stop: () => void }> {
  const config = join(dir, 'kubetrail.yaml');
  writeFileSync(config, ['api:', '  tokens:', '    - name: bench', '      role: admin', `      sha256: ${hashToken(TOKEN)}`].join('\n'));
  const child = spawn(process.execPath, [CLI, 'serve', '--services', 'api', '--listen', '127.0.0.1:0', '--db', db, '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBETRAIL_CONFIG: '', KAFKA_BROKERS: '', KUBETRAIL_KAFKA_BROKERS: '' } });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`kubetrail serve exited with ${code}: ${buf}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

async function timeHttp(url: string, paths: string[]): Promise<{ ms: number[]; rows: number[] }> {
  const ms: number[] = [];
  const rows: number[] = [];
  for (const p of paths) {
    const start = performance.now();
    const res = await fetch(`${url}/api/v1${p}`, { headers: { authorization: `Bearer ${TOKEN}` } }).catch((err: Error) => {
      throw new Error(`${p}: ${err.message} (${String((err as { cause?: unknown }).cause)})`);
    });
    const body = await res.text();
    ms.push(performance.now() - start);
    if (res.status !== 200) throw new Error(`${p}: ${res.status} ${body.slice(0, 300)}`);
    const parsed = JSON.parse(body) as { items?: unknown[] };
    rows.push(parsed.items?.length ?? 0);
  }
  return { ms, rows };
}

async function main(): Promise<void> {
  const actions = envInt('BENCH_ACTIONS', 10_000_000);
  const samples = envInt('BENCH_SAMPLES', 60);
  const seed = envInt('BENCH_SEED', DEFAULT_SEED);
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-query-'));
  const db = process.env.BENCH_DB || join(dir, 'kubetrail.db');
  process.stdout.write(`kubetrail query API latency — ${int(actions)} events, ${samples} requests per query, node ${process.version}, revision ${gitRevision() ?? 'unknown'}\n`);
  try {
    if (!existsSync(db)) await buildStore(db, actions, seed);
    else process.stdout.write(`reusing the store at ${db}\n`);
    const qs = queries(db, samples, seed);
    const server = await startServer(dir, db);
    const results: { name: string; p50: number; p95: number; sqlP50: number; sqlP95: number; rows: number }[] = [];
    try {
      // Warm the page cache and the server the same way for every query.
      for (const q of qs) await timeHttp(server.url, q.paths.slice(0, 5));
      const health: number[] = [];
      for (let i = 0; i < samples; i++) {
        const start = performance.now();
        await (await fetch(`${server.url}/healthz`)).text();
        health.push(performance.now() - start);
      }
      const http: { ms: number[]; rows: number[] }[] = [];
      for (const q of qs) http.push(await timeHttp(server.url, q.paths));
      // The bare SQL after every HTTP measurement: a long pause between requests lets the
      // server close the kept-alive connection under the client.
      const sqlDb = new Database(db, { readonly: true });
      qs.forEach((q, i) => {
        const { ms, rows } = http[i]!;
        const stmt = sqlDb.prepare(q.sql.text);
        const sqlMs = q.sql.params.map((p) => {
          const s = performance.now();
          stmt.all(...p);
          return performance.now() - s;
        });
        results.push({ name: q.name, p50: percentile(ms, 50), p95: percentile(ms, 95), sqlP50: percentile(sqlMs, 50), sqlP95: percentile(sqlMs, 95), rows: rows.reduce((a, b) => a + b, 0) / rows.length });
      });
      sqlDb.close();
      process.stdout.write(`\nbaseline GET /healthz (the HTTP round trip): p50 ${percentile(health, 50).toFixed(1)} ms, p95 ${percentile(health, 95).toFixed(1)} ms\n\n`);
      process.stdout.write(`${'query'.padEnd(12)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('bare SQL p50', 14)}${pad('p95', 8)}${pad('rows', 7)}   target p95 <= ${TARGET_P95_MS} ms\n`);
      for (const r of results) {
        process.stdout.write(`${r.name.padEnd(12)}${pad(r.p50.toFixed(1), 9)}${pad(r.p95.toFixed(1), 9)}${pad(r.sqlP50.toFixed(2), 14)}${pad(r.sqlP95.toFixed(2), 8)}${pad(r.rows.toFixed(0), 7)}   ${r.p95 <= TARGET_P95_MS ? 'PASS' : 'FAIL'}\n`);
      }
      process.stdout.write(`BENCH_JSON ${JSON.stringify({ actions, samples, seed, revision: gitRevision(), healthz: { p50: percentile(health, 50), p95: percentile(health, 95) }, results, targetP95Ms: TARGET_P95_MS })}\n`);
    } finally {
      server.stop();
    }
  } finally {
    if (!process.env.BENCH_DB) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
