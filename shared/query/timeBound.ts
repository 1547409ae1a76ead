import { InputError } from '../errors.js';
import { parseTime } from '../audit/time.js';
import { before } from '../calendar.js';

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const UNIT_DURATION = { s: 'seconds', m: 'minutes', h: 'hours', d: 'days', w: 'weeks' } as const;

/**
 * Parses a `--since`/`--until` value: a duration back from `now` (`90s`, `15m`, `24h`, `30d`,
 * `2w`) or an RFC 3339 time. Returns microseconds since the epoch.
 */
export function parseTimeBound(text: string, flag: string, nowMs: number): number {
  const d = DURATION.exec(text.trim());
  if (d) return before(nowMs, { [UNIT_DURATION[d[2] as keyof typeof UNIT_DURATION]]: Number(d[1]) });
  const t = parseTime(text.trim());
  if (t === null) {
    throw new InputError(`${flag}: expected a duration (90s, 15m, 24h, 30d, 2w) or an RFC 3339 time, got '${text}'`);
  }
  return t;
}

/** Parses a duration (`90s`, `15m`, `2h`, `30d`, `2w`) into microseconds; InputError naming `flag`. */
export function parseDuration(text: string, flag: string): number {
  const d = DURATION.exec(text.trim());
  if (!d || Number(d[1]) === 0) throw new InputError(`${flag}: expected a duration such as 90s, 15m, 2h, 30d or 2w, got '${text}'`);
  return Number(d[1]) * UNIT_SECONDS[d[2]!]! * 1e6;
}
