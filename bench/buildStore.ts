import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { CLI } from './child.js';
import { eventLines } from './generateEvents.js';
import { int } from './report.js';

/** A store of `n` generated events at 10 requests/s (about 12 days for 10M), stored by `kubetrail ingest -`. */
export async function buildStore(db: string, n: number, seed: number): Promise<void> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'ingest', '-', '--db', db, '--cluster', 'bench', '--output', 'json'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, KUBETRAIL_CONFIG: '' } });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  // A child that died shows in its exit code; writing on meanwhile must not crash this process.
  child.stdin.on('error', () => undefined);
  let chunk = '';
  for (const line of eventLines(n, { seed, requestsPerSecond: 10 })) {
    if (child.exitCode !== null) break;
    chunk += line + '\n';
    if (chunk.length >= 1 << 20) {
      if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
      chunk = '';
    }
  }
  child.stdin.end(chunk);
  const code = await exited;
  if (code !== 0) throw new Error(`kubetrail ingest exited with ${code}`);
  process.stdout.write(`built the store: ${int(n)} events in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
}
