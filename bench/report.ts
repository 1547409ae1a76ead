/** What every benchmark prints: medians, figures, the revision measured. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/[_,]/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got '${v}'`);
  return n;
}

/** The commit measured, `+dirty` when files outside bench/ differ from it; null outside git. */
export function gitRevision(): string | null {
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench'], { cwd, encoding: 'utf8' });
  return head.stdout.trim() + (dirty.stdout.trim() ? '+dirty' : '');
}

export const int = (x: number) => Math.round(x).toLocaleString('en-US');
export const pad = (s: string, w: number) => s.padStart(w);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
