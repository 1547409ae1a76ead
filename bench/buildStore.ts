import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CLI } from './child.js';
import { eventLines } from '../shared/demo/generateEvents.js';
import { int } from './report.js';

/** The cluster's default RBAC, stored as the snapshot the usage report evaluates. */
const DEFAULT_RBAC = fileURLToPath(new URL('../../test/fixtures/rbac/default-rbac-v1.34.4.json', import.meta.url));

/** One line in QUARANTINE_EVERY is not an event, so that the store has quarantine to list. */
const QUARANTINE_EVERY = 10_000;

/**
 * A store of `n` generated events at 10 requests/s (about 12 days for 10M), stored by
 * `kubetrail ingest -`, with a malformed line in every QUARANTINE_EVERY and an RBAC snapshot.
 */
export async function buildStore(db: string, n: number, seed: number): Promise<void> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'ingest', '-', '--db', db, '--cluster', 'bench', '--output', 'json'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, KUBETRAIL_CONFIG: '' } });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  // A child that died shows in its exit code; writing on meanwhile must not crash this process.
  child.stdin.on('error', () => undefined);
  let chunk = '';
  let i = 0;
  for (const line of eventLines(n, { seed, requestsPerSecond: 10 })) {
    if (child.exitCode !== null) break;
    if (++i % QUARANTINE_EVERY === 0) chunk += `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"truncated-${i}\n`;
    chunk += line + '\n';
    if (chunk.length >= 1 << 20) {
      if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
      chunk = '';
    }
  }
  child.stdin.end(chunk);
  const code = await exited;
  // Exit code 2 says lines were quarantined, as some are here on purpose.
  if (code !== 0 && code !== 2) throw new Error(`kubetrail ingest exited with ${code}`);
  const load = spawnSync(process.execPath, [CLI, 'rbac', 'load', DEFAULT_RBAC, '--db', db, '--cluster', 'bench'], { encoding: 'utf8', env: { ...process.env, KUBETRAIL_CONFIG: '' } });
  if (load.status !== 0) throw new Error(`kubetrail rbac load exited with ${load.status}: ${load.stderr}`);
  process.stdout.write(`built the store: ${int(n)} events in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
}
