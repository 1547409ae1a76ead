import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { auditIdToKey } from '../shared/storage/auditId.js';

/**
 * Load test (`npm run load [-- SECONDS [EVENTS_PER_SECOND]]`), loopback only and bounded: a
 * real `kubetrail serve` takes the audit webhook at 4,000 events/s (one apiserver's most) for 5
 * minutes while the query API answers searches; then it is killed with SIGKILL mid-stream and
 * started again. Every acknowledged event must be in the store exactly once. Prints the webhook's
 * and the API's latencies (p50, p99), the achieved rate and the server's peak RSS.
 */
const CLI = resolve(process.cwd(), 'dist', 'services', 'cli', 'main.js');
const seconds = Number(process.argv[2] ?? 300);
const rate = Number(process.argv[3] ?? 4000);
const TICK_MS = 100;

function event(at: Date): Record<string, unknown> {
  const t = at.toISOString().replace('Z', '000Z');
  return {
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: randomUUID(), stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/team-a/pods', verb: 'list', user: { username: `user-${Math.floor(Math.random() * 50)}`, groups: ['system:authenticated'] },
    sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.31.0', objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 }, requestReceivedTimestamp: t, stageTimestamp: t,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by RoleBinding "dev/team-a" of ClusterRole "view" to Group "system:authenticated"' },
  };
}

function startServe(db: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db], { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
  return new Promise((done, fail) => {
    let text = '';
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(text);
      if (m) done({ child, url: m[1]! });
    });
    child.once('exit', (code) => fail(new Error(`serve exited ${code}: ${text.slice(-500)}`)));
  });
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! : NaN);
const rssMb = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-load-'));
  const db = join(dir, 'load.db');
  let { child, url } = await startServe(db);
  const acked: string[] = [];
  const webhookMs: number[] = [];
  const apiMs: number[] = [];
  let sent = 0;
  let refused = 0;
  let running = true;
  let peakRss = 0;

  const perTick = Math.round((rate * TICK_MS) / 1000);
  const sender = (async () => {
    const started = performance.now();
    for (let tick = 0; running && performance.now() - started < seconds * 1000; tick++) {
      const due = started + tick * TICK_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const batch = Array.from({ length: perTick }, () => event(new Date()));
      sent += batch.length;
      const t = performance.now();
      // Not awaited: batches overlap as an apiserver's do when the receiver is slow.
      void fetch(`${url}/audit/webhook/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: batch }) })
        .then(async (res) => {
          await res.text();
          if (res.status === 200) {
            webhookMs.push(performance.now() - t);
            for (const e of batch) acked.push(e.auditID as string);
          } else refused++;
        })
        .catch(() => refused++);
    }
  })();
  const reader = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const res = await fetch(`${url}/api/v1/events?limit=50&user=user-7`);
        await res.text();
        if (res.ok) apiMs.push(performance.now() - t);
      } catch {
        // the server is being killed
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMb(child.pid!, 'VmRSS'));
    } catch {
      // gone
    }
  }, 1000);

  await sender;
  // Mid-stream: one more second of sending, then SIGKILL while batches are in flight.
  running = true;
  const tail = (async () => {
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: perTick }, () => event(new Date()));
      sent += batch.length;
      void fetch(`${url}/audit/webhook/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: batch }) })
        .then(async (res) => {
          await res.text();
          if (res.status === 200) for (const e of batch) acked.push(e.auditID as string);
        })
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const hwm = rssMb(child.pid!, 'VmHWM');
  child.kill('SIGKILL');
  await tail;
  running = false;
  clearInterval(sampler);
  await reader;
  await new Promise((r) => child.once('exit', r).once('close', r) && setTimeout(r, 500));

  ({ child, url } = await startServe(db));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  // One pass over the stored keys (audit_id alone is not indexed), then each acknowledged one.
  const conn = new BetterSqlite3(db, { readonly: true });
  const times = new Map<string, number>();
  for (const key of conn.prepare('SELECT audit_id FROM events').pluck().iterate() as IterableIterator<Buffer | string>) {
    const k = typeof key === 'string' ? key : key.toString('hex');
    times.set(k, (times.get(k) ?? 0) + 1);
  }
  conn.close();
  let missing = 0;
  let twice = 0;
  for (const id of acked) {
    const key = auditIdToKey(id);
    const n = times.get(typeof key === 'string' ? key : key.toString('hex')) ?? 0;
    if (n === 0) missing++;
    else if (n > 1) twice++;
  }
  const stored = [...times.values()].reduce((a, b) => a + b, 0);
  rmSync(dir, { recursive: true, force: true });

  const lines = [
    `load: ${seconds} s at ${rate} events/s asked (${perTick} per ${TICK_MS} ms batch), then SIGKILL mid-stream and a restart`,
    `  sent ${sent}, acknowledged ${acked.length} (${Math.round(acked.length / seconds)}/s), not acknowledged ${sent - acked.length} (refused ${refused}, the rest in flight at the kill); stored ${stored}`,
    `  webhook latency p50 ${pct(webhookMs, 50).toFixed(1)} ms, p99 ${pct(webhookMs, 99).toFixed(1)} ms; API search p50 ${pct(apiMs, 50).toFixed(1)} ms, p99 ${pct(apiMs, 99).toFixed(1)} ms (${apiMs.length} searches)`,
    `  serve RSS peak ${Math.max(peakRss, hwm).toFixed(0)} MB`,
    `  after the restart: acknowledged and missing ${missing}, stored twice ${twice}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = missing === 0 && twice === 0 ? 0 : 1;
}

await main();
