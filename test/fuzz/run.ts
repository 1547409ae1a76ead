import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../helpers.js';
import { mutate } from './mutate.js';
import { TARGETS, type FuzzTarget } from './targets.js';

/** What one target's run found. */
export interface FuzzResult {
  target: string;
  executions: number;
  failures: { input: string; error: string }[];
}

/**
 * Runs a target for `seconds`: its seeds first, then mutations of them. Stops a target at its
 * first failure (the input is kept, to become a seed).
 */
export function fuzz(target: FuzzTarget, seconds: number, seed = 1): FuzzResult {
  const rand = seededRandom(seed);
  const deadline = performance.now() + seconds * 1000;
  const result: FuzzResult = { target: target.name, executions: 0, failures: [] };
  const attempt = (input: string) => {
    result.executions++;
    try {
      target.run(input);
    } catch (err) {
      result.failures.push({ input, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  };
  for (const s of target.seeds) attempt(s);
  while (result.failures.length === 0 && performance.now() < deadline) {
    attempt(mutate(target.seeds[Math.floor(rand() * target.seeds.length)]!, rand, target.seeds));
  }
  return result;
}

/** `npm run fuzz [-- SECONDS [TARGET…]]`: each target in turn; failing inputs go to test/fuzz/found/. */
async function main(): Promise<void> {
  const [secondsArg, ...names] = process.argv.slice(2);
  const seconds = Number(secondsArg ?? 60);
  const chosen = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  let failed = 0;
  for (const t of chosen) {
    const r = fuzz(t, seconds, Date.now() % 100_000);
    process.stdout.write(`${t.name.padEnd(11)} ${String(r.executions).padStart(9)} executions in ${seconds} s  ${r.failures.length ? `FAILED: ${r.failures[0]!.error}` : 'ok'}  (${t.property})\n`);
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
