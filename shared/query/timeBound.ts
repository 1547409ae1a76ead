import type { Duration } from 'date-fns';
import { InputError } from '../errors.js';
import { parseTime } from '../audit/time.js';
import { before } from '../calendar.js';

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNITS = { s: 'seconds', m: 'minutes', h: 'hours', d: 'days', w: 'weeks' } as const;

/** `90s`, `15m`, `2h`, `30d`, `2w` as a date-fns Duration, or null when the text is not one. */
function durationOf(text: string): Duration | null {
  const d = DURATION.exec(text.trim());
  return d ? { [UNITS[d[2] as keyof typeof UNITS]]: Number(d[1]) } : null;
}

/**
 * Parses a `--since`/`--until` value: a duration back from `now` (`90s`, `15m`, `24h`, `30d`,
 * `2w`) or an RFC 3339 time. Returns microseconds since the epoch.
 */
export function parseTimeBound(text: string, flag: string, nowMs: number): number {
  const d = durationOf(text);
  const t = d ? before(nowMs, d) : parseTime(text.trim());
  if (t === null) throw new InputError(`${flag}: expected a duration (90s, 15m, 24h, 30d, 2w) or an RFC 3339 time, got '${text}'`);
  if (!Number.isFinite(t)) throw new InputError(`${flag}: '${text}' reaches before any date kubetrail can hold`);
  return t;
}

/** Parses a duration (`90s`, `15m`, `2h`, `30d`, `2w`); InputError naming `flag`. */
export function parseDuration(text: string, flag: string): Duration {
  const d = durationOf(text);
  if (!d || Object.values(d)[0] === 0) throw new InputError(`${flag}: expected a duration such as 90s, 15m, 2h, 30d or 2w, got '${text}'`);
  return d;
}
