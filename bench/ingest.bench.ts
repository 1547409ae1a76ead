/**
 * `npm run bench`: how fast kubetrail stores audit events, and at what cost in disk and memory,
 * against a baseline measured in the same run on the same input.
 *
 *   a  baseline: read the file, JSON.parse each line, INSERT (auditID, raw JSON) into a bare
 *      table — the least any store of these events must do (same pragmas as openStore).
 *   b  `kubetrail ingest FILE --db DB --output json`, a child process (identity attribution and
 *      the detections included, as always).
 *   d  the same with `detections.enabled: false`: what identity and detection cost (b/d). b runs
 *      every built-in rule (the registry and address rules given lists) and 50 Sigma rules.
 *   e  b without the store's hash chain (KUBETRAIL_BENCH_NO_HASH_CHAIN=1): what tamper
 *      evidence costs (target ≤ 5 %).
 *   c  `kubetrail serve`, a child process, fed EventList bodies of 400 events, 8 in flight.
 *
 * One ingest differs from the next by up to 15 % on these shared machines (disk and CPU
 * steal), as much as the chain costs: a, b and e run twice each in a run (a b d e b e a c), and
 * b/a and b/e compare the best of each pair. b/d and c/a take single runs (c over the best a).
 *
 * Environment: BENCH_EVENTS (default 1,000,000), BENCH_RUNS (default 3), BENCH_SEED,
 * BENCH_KEEP=1 keeps the temporary directories, BENCH_RSS=poll measures peak RSS by polling
 * /proc even where /usr/bin/time is available. Prints a table and, last, one line
 * `BENCH_JSON {...}`. Exits 0 whatever the figures: it measures, it does not judge.
 */
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { CLI, pickRssMethod, startMeasured, type RssMethod } from './child.js';
import { DEFAULT_SEED, writeEventsFile } from '../shared/demo/generateEvents.js';
import { eventListBodiesFromFile, lineBatches } from './fileLines.js';
import { freePort, httpCall, waitReady } from './http.js';
import { writeSigmaRuleSet } from './sigmaRules.js';
import { envInt, gitRevision, int, median, pad } from './report.js';

const BASELINE_TX_ROWS = 20_000;
const WEBHOOK_BATCH = 400;
const WEBHOOK_CONCURRENCY = 8;
// Targets: file ingest >= 0.7 of the baseline at <= 200 B/event and <= 300 MB peak; webhook >= 0.5; churn >= 0.45 at <= 500 B/event.
const TARGETS = { ingestRatio: 0.7, webhookRatio: 0.5, detectionRatio: 0.85, chainRatio: 0.95, bytesPerEvent: 200, peakRssMB: 300, churnRatio: 0.45, churnBytesPerEvent: 500 };

interface PhaseResult {
  seconds: number;
  eventsPerSec: number;
  bytesPerEvent: number;
  /** Events the product reported as stored (b, c); the baseline inserts every line. */
  stored: number;
  peakRssMB?: number;
  /** User + system CPU seconds of the process doing the work (the child for b and c). */
  cpuSeconds?: number;
  problems: string[];
}

interface RunResult {
  a: PhaseResult;
  b: PhaseResult;
  /** Events/s, the better of the two runs of a, of b. */
  aBest: number;
  bBest: number;
  c: PhaseResult;
  d: PhaseResult;
  e: PhaseResult;
  ratioBA: number;
  /** With the hash chain, over without. */
  ratioBE: number;
  /** Identity and detections on, over off. */
  ratioBD: number;
  ratioCA: number;
}

// --- the three phases -----------------------------------------------------------------------

/** Bytes of a SQLite database with its -wal and -shm files. */
function dbBytes(path: string): number {
  let total = 0;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) total += statSync(p).size;
  return total;
}

/** Alerts stored, and the findings they count. */
function countAlerts(path: string): { alerts: number; findings: number } {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT count(*) AS alerts, coalesce(sum(count), 0) AS findings FROM alerts').get() as { alerts: number; findings: number };
  } finally {
    db.close();
  }
}

function removeDb(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
}

async function runBaseline(input: string, dbPath: string, n: number): Promise<PhaseResult> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const db = new Database(dbPath);
  // The pragmas of shared/storage/sqlite/openStore.ts.
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  db.exec('CREATE TABLE raw (audit_id TEXT NOT NULL, json TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO raw (audit_id, json) VALUES (?, ?)');
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  let inTx = 0;
  let count = 0;
  for await (const lines of lineBatches(input)) {
    for (const line of lines) {
      const text = line.toString('utf8');
      const event = JSON.parse(text) as { auditID: string };
      if (inTx === 0) begin.run();
      insert.run(event.auditID, text);
      count++;
      if (++inTx === BASELINE_TX_ROWS) {
        commit.run();
        inTx = 0;
      }
    }
  }
  if (inTx > 0) commit.run();
  db.close();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const problems = count === n ? [] : [`inserted ${count} rows, expected ${n}`];
  return { seconds, eventsPerSec: count / seconds, bytesPerEvent: dbBytes(dbPath) / n, stored: count, cpuSeconds: (cpu.user + cpu.system) / 1e6, problems };
}

async function runIngest(method: RssMethod, input: string, dbPath: string, cwd: string, n: number, detections = true, hashChain = true): Promise<PhaseResult> {
  const config = join(cwd, detections ? 'detections-on.yaml' : 'detections-off.yaml');
  // On: every built-in rule (the registry and address rules given lists) and 50 Sigma rules.
  const on = `  allowedRegistries: [registry.example.com]\n  denyAddresses: [198.51.100.0/24]\n  sigma: [${writeSigmaRuleSet(join(cwd, 'sigma'))}]\n`;
  writeFileSync(config, `detections:\n  enabled: ${detections}\n${detections ? on : ''}`);
  const started = performance.now();
  const m = startMeasured(method, ['ingest', input, '--db', dbPath, '--config', config, '--output', 'json'], cwd, hashChain ? {} : { KUBETRAIL_BENCH_NO_HASH_CHAIN: '1' });
  const r = await m.done;
  const seconds = (performance.now() - started) / 1000;
  const problems: string[] = [];
  let stored = 0;
  try {
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { stored: number; quarantined: number; duplicates: number };
    stored = summary.stored;
    if (summary.stored !== n) problems.push(`stored ${summary.stored} of ${n} (duplicates ${summary.duplicates}, quarantined ${summary.quarantined})`);
  } catch {
    problems.push(`no JSON summary on stdout: ${JSON.stringify(r.stdout.slice(0, 300))}`);
  }
  if (r.code !== 0) problems.push(`exit code ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}; stderr: ${r.stderrTail.slice(-600)}`);
  return { seconds, eventsPerSec: n / seconds, bytesPerEvent: dbBytes(dbPath) / n, stored, peakRssMB: r.peakRssKB / 1024, cpuSeconds: r.cpuSeconds, problems };
}

async function runWebhook(method: RssMethod, input: string, dbPath: string, cwd: string, n: number): Promise<PhaseResult> {
  const port = await freePort();
  const m = startMeasured(method, ['serve', '--listen', `127.0.0.1:${port}`, '--db', dbPath], cwd);
  let stderrTail = '';
  m.child.stderr!.on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-4000)));
  const problems: string[] = [];
  let accepted = 0;
  let seconds = 0;
  try {
    await waitReady(port, m.child, () => stderrTail);
    const agent = new Agent({ keepAlive: true, maxSockets: WEBHOOK_CONCURRENCY });
    const bodies = eventListBodiesFromFile(input, WEBHOOK_BATCH);
    const statuses = new Map<number, number>();
    // Concurrent next() calls on one async generator are queued, so each body goes out once.
    const worker = async () => {
      for (;;) {
        const next = await bodies.next();
        if (next.done) return;
        const r = await httpCall(agent, port, 'POST', '/audit/webhook', next.value.body);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) accepted += (JSON.parse(r.text) as { accepted: number }).accepted;
        else if (problems.length < 5) problems.push(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: WEBHOOK_CONCURRENCY }, worker));
    seconds = (performance.now() - started) / 1000;
    agent.destroy();
    const non200 = [...statuses].filter(([s]) => s !== 200);
    if (non200.length > 0) problems.push(`non-200 answers: ${non200.map(([s, c]) => `${c}×${s}`).join(', ')}`);
    if (accepted !== n) problems.push(`accepted ${accepted} of ${n}`);
  } finally {
    const pid = await m.pid;
    process.kill(pid, 'SIGTERM');
  }
  const r = await m.done;
  if (r.code !== 0) problems.push(`serve exit code ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}; stderr: ${r.stderrTail.slice(-600)}`);
  return { seconds, eventsPerSec: n / seconds, bytesPerEvent: dbBytes(dbPath) / n, stored: accepted, peakRssMB: r.peakRssKB / 1024, cpuSeconds: r.cpuSeconds, problems };
}

function phaseLine(label: string, p: PhaseResult, ratio?: number): string {
  const parts = [
    label.padEnd(26),
    `${pad(p.seconds.toFixed(1), 6)} s`,
    `${pad(int(p.eventsPerSec), 8)} ev/s`,
    ratio === undefined ? ' '.repeat(8) : `${pad(ratio.toFixed(2), 5)}×a `,
    `${pad(int(p.bytesPerEvent), 6)} B/ev`,
    p.cpuSeconds === undefined ? '' : `cpu ${pad(p.cpuSeconds.toFixed(1), 5)} s`,
    p.peakRssMB === undefined ? '' : `peak RSS ${pad(p.peakRssMB.toFixed(0), 4)} MB`,
  ];
  return '  ' + parts.join('  ');
}

async function main(): Promise<void> {
  const n = envInt('BENCH_EVENTS', 1_000_000);
  const runs = envInt('BENCH_RUNS', 3);
  const seed = envInt('BENCH_SEED', DEFAULT_SEED);
  const keep = process.env.BENCH_KEEP === '1';
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const method = pickRssMethod();
  const rssLabel = method === 'gnu-time' ? '/usr/bin/time -v (ru_maxrss)' : '/proc/<pid>/status VmHWM polled every 50 ms (cpu: last poll)';

  const workDir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-'));
  const input = join(workDir, 'events.jsonl');
  const runDirs: string[] = [];
  try {
    const genStart = performance.now();
    const gen = await writeEventsFile(input, n, { seed });
    const genSeconds = (performance.now() - genStart) / 1000;
    // Flush the input now, so that its write-back does not land in the first measurement.
    const fd = openSync(input, 'r');
    fsyncSync(fd);
    closeSync(fd);
    console.log(
      `kubetrail ingest benchmark — ${int(n)} events, ${runs} run${runs > 1 ? 's' : ''}, node ${process.version}, ${cpus().length} CPUs`,
    );
    console.log(`input: ${(gen.bytes / 1024 ** 2).toFixed(0)} MiB, ${int(gen.bytes / n)} B/event avg, seed ${seed}, generated in ${genSeconds.toFixed(1)} s`);
    console.log(`revision ${gitRevision() ?? 'unknown'}; peak RSS: ${rssLabel}; b and c times include process start; c is first request to last response;`);
    console.log('cpu = user+system seconds of the working process (the child for b and c; well below wall time = waiting on disk or on the client)');

    const results: RunResult[] = [];
    for (let i = 1; i <= runs; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-run-'));
      runDirs.push(dir);
      console.log(`\nrun ${i}/${runs}`);
      const aDb = join(dir, 'baseline.db');
      const a = await runBaseline(input, aDb, n);
      console.log(phaseLine('a baseline parse+INSERT', a));
      removeDb(aDb);
      const bDb = join(dir, 'ingest.db');
      const b = await runIngest(method, input, bDb, dir, n);
      console.log(phaseLine('b kubetrail ingest', b, b.eventsPerSec / a.eventsPerSec));
      const alerts = countAlerts(bDb);
      removeDb(bDb);
      const d = await runIngest(method, input, bDb, dir, n, false);
      console.log(phaseLine('d  … detections off', d, d.eventsPerSec / a.eventsPerSec) + `   b/d ${(b.eventsPerSec / d.eventsPerSec).toFixed(2)} (b raised ${int(alerts.alerts)} alerts of ${int(alerts.findings)} findings)`);
      removeDb(bDb);
      const e = await runIngest(method, input, bDb, dir, n, true, false);
      console.log(phaseLine('e  … hash chain off', e, e.eventsPerSec / a.eventsPerSec));
      removeDb(bDb);
      // Again, alternating (see the header).
      const b2 = await runIngest(method, input, bDb, dir, n);
      removeDb(bDb);
      const e2 = await runIngest(method, input, bDb, dir, n, true, false);
      removeDb(bDb);
      const a2 = await runBaseline(input, aDb, n);
      removeDb(aDb);
      const aBest = Math.max(a.eventsPerSec, a2.eventsPerSec);
      const bBest = Math.max(b.eventsPerSec, b2.eventsPerSec);
      const eBest = Math.max(e.eventsPerSec, e2.eventsPerSec);
      console.log(`  again: a ${int(a2.eventsPerSec)}, b ${int(b2.eventsPerSec)}, e ${int(e2.eventsPerSec)} ev/s`);
      console.log(`  best of two: a ${int(aBest)}, b ${int(bBest)}, e ${int(eBest)} ev/s; b/a ${(bBest / aBest).toFixed(3)}; b/e ${(bBest / eBest).toFixed(3)} (the chain costs ${((1 - bBest / eBest) * 100).toFixed(1)} %)`);
      const cDb = join(dir, 'webhook.db');
      const c = await runWebhook(method, input, cDb, dir, n);
      console.log(phaseLine(`c webhook ${WEBHOOK_BATCH}/body ×${WEBHOOK_CONCURRENCY}`, c, c.eventsPerSec / aBest));
      removeDb(cDb);
      for (const [label, p] of [['a', a], ['a', a2], ['b', b], ['b', b2], ['c', c], ['d', d], ['e', e], ['e', e2]] as const) for (const problem of p.problems) console.log(`  ! ${label}: ${problem}`);
      results.push({ a, b, aBest, bBest, c, d, e, ratioBA: bBest / aBest, ratioCA: c.eventsPerSec / aBest, ratioBD: b.eventsPerSec / d.eventsPerSec, ratioBE: bBest / eBest });
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }

    const med = {
      aEventsPerSec: median(results.map((r) => r.aBest)),
      bEventsPerSec: median(results.map((r) => r.bBest)),
      cEventsPerSec: median(results.map((r) => r.c.eventsPerSec)),
      ratioBA: median(results.map((r) => r.ratioBA)),
      ratioCA: median(results.map((r) => r.ratioCA)),
      ratioBD: median(results.map((r) => r.ratioBD)),
      ratioBE: median(results.map((r) => r.ratioBE)),
      aBytesPerEvent: median(results.map((r) => r.a.bytesPerEvent)),
      bBytesPerEvent: median(results.map((r) => r.b.bytesPerEvent)),
      cBytesPerEvent: median(results.map((r) => r.c.bytesPerEvent)),
      bPeakRssMB: median(results.map((r) => r.b.peakRssMB ?? 0)),
      cPeakRssMB: median(results.map((r) => r.c.peakRssMB ?? 0)),
    };
    const targets = [
      { name: 'b/a events/s', value: med.ratioBA, op: '>=', limit: TARGETS.ingestRatio },
      { name: 'c/a events/s', value: med.ratioCA, op: '>=', limit: TARGETS.webhookRatio },
      { name: 'b/d events/s', value: med.ratioBD, op: '>=', limit: TARGETS.detectionRatio },
      { name: 'b/e events/s (hash chain)', value: med.ratioBE, op: '>=', limit: TARGETS.chainRatio },
      { name: 'b bytes/event', value: med.bBytesPerEvent, op: '<=', limit: TARGETS.bytesPerEvent },
      { name: 'c bytes/event', value: med.cBytesPerEvent, op: '<=', limit: TARGETS.bytesPerEvent },
      { name: 'b peak RSS MB', value: med.bPeakRssMB, op: '<=', limit: TARGETS.peakRssMB },
      { name: 'c peak RSS MB', value: med.cPeakRssMB, op: '<=', limit: TARGETS.peakRssMB },
    ].map((t) => ({ ...t, pass: t.op === '>=' ? t.value >= t.limit : t.value <= t.limit }));

    console.log(`\nmedian over ${runs} run${runs > 1 ? 's' : ''} (ratios: median of each run's ratio)`);
    console.log(`  a events/s      ${pad(int(med.aEventsPerSec), 9)}   best of two (${int(med.aBytesPerEvent)} B/event on disk)`);
    console.log(`  b events/s      ${pad(int(med.bEventsPerSec), 9)}   best of two`);
    console.log(`  c events/s      ${pad(int(med.cEventsPerSec), 9)}`);
    for (const t of targets) {
      const shown = /^[a-e]\/[a-e] /.test(t.name) ? t.value.toFixed(t.name.startsWith('b/e') ? 3 : 2) : t.value.toFixed(0);
      console.log(`  ${t.name.padEnd(15)} ${pad(shown, 9)}   target ${t.op} ${t.limit}   ${t.pass ? 'PASS' : 'FAIL'}`);
    }
    const problems = results.flatMap((r, i) => [...r.a.problems, ...r.b.problems, ...r.c.problems, ...r.d.problems].map((p) => `run ${i + 1}: ${p}`));
    if (problems.length > 0) console.log(`  ! ${problems.length} problem(s) above: figures of those runs may not be comparable`);

    const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
    const phaseJson = (p: PhaseResult) => ({
      seconds: round(p.seconds, 2),
      eventsPerSec: Math.round(p.eventsPerSec),
      bytesPerEvent: round(p.bytesPerEvent),
      stored: p.stored,
      ...(p.peakRssMB === undefined ? {} : { peakRssMB: round(p.peakRssMB) }),
      ...(p.cpuSeconds === undefined ? {} : { cpuSeconds: round(p.cpuSeconds, 2) }),
      ...(p.problems.length > 0 ? { problems: p.problems } : {}),
    });
    const summary = {
      events: n,
      runs,
      seed,
      node: process.version,
      cpus: cpus().length,
      input: { bytes: gen.bytes, avgEventBytes: round(gen.bytes / n), generateSeconds: round(genSeconds, 2) },
      revision: gitRevision(),
      rssMethod: method,
      webhook: { eventsPerBody: WEBHOOK_BATCH, concurrency: WEBHOOK_CONCURRENCY },
      perRun: results.map((r) => ({ a: phaseJson(r.a), b: phaseJson(r.b), c: phaseJson(r.c), d: phaseJson(r.d), e: phaseJson(r.e), aBest: Math.round(r.aBest), bBest: Math.round(r.bBest), ratioBA: round(r.ratioBA, 3), ratioCA: round(r.ratioCA, 3), ratioBD: round(r.ratioBD, 3), ratioBE: round(r.ratioBE, 3) })),
      median: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, k.startsWith('ratio') ? round(v, 3) : round(v)])),
      targets: targets.map((t) => ({ ...t, value: round(t.value, 3) })),
    };
    const churn = process.env.BENCH_CHURN === '0' ? null : await churnWorkload(method, workDir, n, runs, seed, runDirs);
    console.log(`BENCH_JSON ${JSON.stringify({ ...summary, ...(churn ? { churn } : {}) })}`);
  } finally {
    if (keep) console.log(`kept: ${[workDir, ...runDirs].join(' ')}`);
    else {
      rmSync(workDir, { recursive: true, force: true });
      for (const d of runDirs) rmSync(d, { recursive: true, force: true });
    }
  }
}

/**
 * The second workload (BENCH_CHURN=0 leaves it out): the same generator with a new pod and bound
 * token on every service-account request, as job pods, CI runners and per-request credentials
 * make them. What each new credential costs: b/a and bytes/event, medians over the runs.
 */
async function churnWorkload(method: RssMethod, workDir: string, n: number, runs: number, seed: number, runDirs: string[]) {
  const input = join(workDir, 'churn.jsonl');
  const gen = await writeEventsFile(input, n, { seed, churn: true });
  console.log(`\nchurn workload: a new pod and token on every service-account request; ${(gen.bytes / 1024 ** 2).toFixed(0)} MiB, ${int(gen.bytes / n)} B/event avg`);
  const perRun: { a: number; b: number; ratio: number; bytesPerEvent: number; peakRssMB: number }[] = [];
  for (let i = 1; i <= runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-churn-'));
    runDirs.push(dir);
    const aDb = join(dir, 'baseline.db');
    const a = await runBaseline(input, aDb, n);
    removeDb(aDb);
    const bDb = join(dir, 'ingest.db');
    const b = await runIngest(method, input, bDb, dir, n);
    removeDb(bDb);
    console.log(phaseLine(`churn run ${i}: a`, a));
    console.log(phaseLine(`churn run ${i}: b`, b, b.eventsPerSec / a.eventsPerSec));
    for (const problem of [...a.problems, ...b.problems]) console.log(`  ! churn run ${i}: ${problem}`);
    perRun.push({ a: Math.round(a.eventsPerSec), b: Math.round(b.eventsPerSec), ratio: b.eventsPerSec / a.eventsPerSec, bytesPerEvent: b.bytesPerEvent, peakRssMB: b.peakRssMB ?? 0 });
  }
  const med = { ratioBA: median(perRun.map((r) => r.ratio)), bBytesPerEvent: median(perRun.map((r) => r.bytesPerEvent)), bPeakRssMB: median(perRun.map((r) => r.peakRssMB)) };
  console.log(`  churn b/a       ${pad(med.ratioBA.toFixed(2), 9)}   target >= ${TARGETS.churnRatio}   ${med.ratioBA >= TARGETS.churnRatio ? 'PASS' : 'FAIL'}`);
  console.log(`  churn bytes/ev  ${pad(med.bBytesPerEvent.toFixed(0), 9)}   target <= ${TARGETS.churnBytesPerEvent}   ${med.bBytesPerEvent <= TARGETS.churnBytesPerEvent ? 'PASS' : 'FAIL'}`);
  console.log(`  churn peak RSS  ${pad(med.bPeakRssMB.toFixed(0), 9)} MB`);
  return { perRun, median: med };
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
