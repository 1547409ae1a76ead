import { InputError } from '../errors.js';
import { parseTime } from '../audit/time.js';

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses a `--since`/`--until` value: a duration back from `now` (`90s`, `15m`, `24h`, `30d`,
 * `2w`) or an RFC 3339 time. Returns microseconds since the epoch.
 */
export function parseTimeBound(text: string, flag: string, nowMs: number = Date.now()): number {
  const d = DURATION.exec(text.trim());
  if (d) return (nowMs - Number(d[1]) * UNIT_SECONDS[d[2]!]! * 1000) * 1000;
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
