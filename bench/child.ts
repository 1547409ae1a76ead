/** Child processes measured for a benchmark: their peak RSS and CPU time. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The kubetrail CLI, built. */
export const CLI = fileURLToPath(new URL('../services/cli/main.js', import.meta.url));

// --- peak RSS of a child ------------------------------------------------------------------

export type RssMethod = 'gnu-time' | 'proc-poll';

/** GNU time's `-v` reports the child's ru_maxrss exactly; otherwise (or BENCH_RSS=poll) poll /proc VmHWM. */
export function pickRssMethod(): RssMethod {
  if (process.env.BENCH_RSS === 'poll') return 'proc-poll';
  const r = spawnSync('/usr/bin/time', ['-v', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /Maximum resident set size/.test(r.stderr) ? 'gnu-time' : 'proc-poll';
}

export interface Measured {
  /** The node process itself (not /usr/bin/time), for signals. */
  pid: Promise<number>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; peakRssKB: number; cpuSeconds?: number; stdout: string; stderrTail: string }>;
  child: ChildProcess;
}

/** Starts `node CLI args…` in `cwd` (with `extraEnv`), keeping its stdout, the tail of its stderr and its peak RSS. */
export function startMeasured(method: RssMethod, args: string[], cwd: string, extraEnv: Record<string, string> = {}): Measured {
  // Only what the benchmark sets: no config or brokers from the calling shell.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('KUBETRAIL_') || k === 'KAFKA_BROKERS') delete env[k];
  Object.assign(env, extraEnv);
  const timeFile = join(cwd, 'time-v.txt');
  const argv = method === 'gnu-time' ? ['-v', '-o', timeFile, process.execPath, CLI, ...args] : [CLI, ...args];
  const child = spawn(method === 'gnu-time' ? '/usr/bin/time' : process.execPath, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderrTail = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-8000)));

  const pid = method === 'gnu-time' ? childOf(child.pid!) : Promise.resolve(child.pid!);
  let polledKB = 0;
  let polledCpu: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (method === 'proc-poll') {
    const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
    const poll = () => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status) ?? /VmRSS:\s+(\d+) kB/.exec(status);
        if (hwm) polledKB = Math.max(polledKB, Number(hwm[1]));
        // utime and stime, fields 14 and 15 of /proc/<pid>/stat (after the parenthesized name).
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        polledCpu = (Number(fields[11]) + Number(fields[12])) / ticks;
      } catch {
        // The process is gone: the last reading stands.
      }
    };
    timer = setInterval(poll, 50);
  }
  const done = new Promise<Awaited<Measured['done']>>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (timer) clearInterval(timer);
      let peakRssKB = polledKB;
      let cpuSeconds = polledCpu;
      if (method === 'gnu-time') {
        const text = existsSync(timeFile) ? readFileSync(timeFile, 'utf8') : '';
        peakRssKB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? 0);
        const user = /User time \(seconds\): ([\d.]+)/.exec(text);
        const sys = /System time \(seconds\): ([\d.]+)/.exec(text);
        if (user && sys) cpuSeconds = Number(user[1]) + Number(sys[1]);
        // GNU time reports the child's own exit status; a signal shows as "Command terminated by signal".
        const status = /Exit status: (\d+)/.exec(text);
        if (status) code = Number(status[1]);
      }
      resolve({ code, signal, peakRssKB, cpuSeconds, stdout, stderrTail });
    });
  });
  return { pid, done, child };
}

/** The pid of the (only) child of `parent`, once it exists. */
async function childOf(parent: number): Promise<number> {
  for (let i = 0; i < 400; i++) {
    try {
      const text = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
      if (text) return Number(text.split(/\s+/)[0]);
    } catch {
      // Not there yet, or /proc without `children`: try the slower scan below.
      const found = scanForChild(parent);
      if (found !== null) return found;
    }
    await sleep(5);
  }
  throw new Error(`no child process of ${parent} appeared`);
}

function scanForChild(parent: number): number | null {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === parent) return Number(entry);
      } catch {
        // Gone meanwhile.
      }
    }
  } catch {
    // No /proc at all.
  }
  return null;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
