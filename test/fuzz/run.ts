import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { seededRandom } from '../helpers.js';
import { mutate } from './mutate.js';
import { TARGETS, type FuzzTarget } from './targets.js';

/** What one target's run found. */
export interface FuzzResult {
  target: string;
  executions: number;
  /** Inputs kept for reaching code paths no input before them reached (seeds included). */
  corpus: number;
  /** Distinct paths through the product's functions seen. */
  paths: number;
  failures: { input: string; error: string }[];
}

/**
 * Runs a target for `seconds`, guided by coverage: its seeds first, then mutations of the inputs
 * kept so far. An input is kept when it takes a function of the product (dist/shared,
 * dist/services) down a path no input took before: V8's block coverage, read after each run
 * through the inspector, tells which blocks of each function ran. Stops a target at its first
 * failure (the input is kept, to become a seed).
 */
export function fuzz(target: FuzzTarget, seconds: number, seed = 1): FuzzResult {
  const rand = seededRandom(seed);
  const deadline = performance.now() + seconds * 1000;
  const coverage = new BlockCoverage();
  const corpus: string[] = [];
  const result: FuzzResult = { target: target.name, executions: 0, corpus: 0, paths: 0, failures: [] };
  const attempt = (input: string) => {
    result.executions++;
    try {
      target.run(input);
    } catch (err) {
      result.failures.push({ input, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
    if (coverage.newPaths() > 0) corpus.push(input);
  };
  try {
    coverage.newPaths(); // what ran before the target is not its coverage
    for (const s of target.seeds) attempt(s);
    if (corpus.length === 0) corpus.push(...target.seeds);
    while (result.failures.length === 0 && performance.now() < deadline) {
      // Newer inputs reached newer paths: half the picks go to the last tenth of the corpus.
      const recent = rand() < 0.5 ? Math.floor(corpus.length * 0.9) : 0;
      attempt(mutate(corpus[recent + Math.floor(rand() * (corpus.length - recent))]!, rand, corpus));
    }
  } finally {
    result.paths = coverage.paths();
    coverage.close();
  }
  result.corpus = corpus.length;
  return result;
}

/** V8 block coverage of the product's code, taken (and reset) after each run. */
class BlockCoverage {
  private readonly session = new Session();
  private readonly seen = new Set<string>();

  constructor() {
    this.session.connect();
    this.session.post('Profiler.enable');
    this.session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** How many paths the runs since the last call took that none took before. */
  newPaths(): number {
    let fresh = 0;
    // An in-process inspector session answers synchronously.
    this.session.post('Profiler.takePreciseCoverage', (err, res) => {
      if (err) throw err;
      for (const script of res.result) {
        if (!PRODUCT.test(script.url)) continue;
        for (const fn of script.functions) {
          // A function's path: which of its blocks did not run (ranges with count 0).
          let path = `${script.url}#${fn.ranges[0]?.startOffset ?? 0}`;
          for (const r of fn.ranges) if (r.count === 0) path += `,${r.startOffset}-${r.endOffset}`;
          if (!this.seen.has(path)) {
            this.seen.add(path);
            fresh++;
          }
        }
      }
    });
    return fresh;
  }

  paths(): number {
    return this.seen.size;
  }

  close(): void {
    this.session.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}

const PRODUCT = /\/dist\/(shared|services)\//;

/** `npm run fuzz [-- SECONDS [TARGET…]]`: each target in turn; failing inputs go to test/fuzz/found/. */
async function main(): Promise<void> {
  const [secondsArg, ...names] = process.argv.slice(2);
  const seconds = Number(secondsArg ?? 60);
  const chosen = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  let failed = 0;
  for (const t of chosen) {
    const r = fuzz(t, seconds, Date.now() % 100_000);
    process.stdout.write(`${t.name.padEnd(11)} ${String(r.executions).padStart(9)} executions in ${seconds} s, ${r.paths} paths, ${r.corpus} inputs kept  ${r.failures.length ? `FAILED: ${r.failures[0]!.error}` : 'ok'}  (${t.property})\n`);
    for (const f of r.failures) {
      const dir = join(process.cwd(), 'test', 'fuzz', 'found'); // move an input to seeds/ once its bug is fixed
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${t.name}-${createHash('sha256').update(f.input).digest('hex').slice(0, 12)}.txt`);
      writeFileSync(file, f.input);
      process.stdout.write(`  input kept in ${file}\n`);
      failed++;
    }
  }
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1]?.endsWith('run.js')) await main();
