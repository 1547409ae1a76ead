import { UTCDate } from '@date-fns/utc';
import { add, addDays, differenceInCalendarDays, differenceInDays, format, isValid, parse, startOfDay, startOfHour, sub, type Duration } from 'date-fns';
import { InputError } from './errors.js';

/**
 * The calendar of kubetrail: UTC days and hours of stored times (rollups, archives, retention,
 * timelines) and durations back from now (`--since 30d`). Stored times are integer
 * microseconds since the epoch (a Date holds only milliseconds); the calendar work is
 * date-fns on UTC dates. Day and hour numbers count from 1970-01-01T00:00Z.
 */

const MS_PER_DAY = 86_400_000;
const MS_PER_HOUR = 3_600_000;
const EPOCH = new UTCDate(0);

const utc = (micros: number) => new UTCDate(Math.floor(micros / 1000));
const micros = (d: Date) => d.getTime() * 1000;

/**
 * The UTC day of a time in microseconds. Epoch time has no leap seconds, so a UTC day is
 * exactly 86,400 s and the day is an integer division: this runs once per stored event, and
 * test/shared/calendar.test.ts holds it to date-fns' calendar day.
 */
export const utcDay = (us: number): number => Math.floor(us / (MS_PER_DAY * 1000));

/** The UTC hour (since the epoch) of a time in microseconds, as utcDay counts days. */
export const utcHour = (us: number): number => Math.floor(us / (MS_PER_HOUR * 1000));

/** The first microsecond of a UTC day number. */
export const dayStart = (day: number): number => micros(addDays(EPOCH, day));

/** The start of the UTC day holding `us`, in microseconds. */
export const startOfUtcDay = (us: number): number => micros(startOfDay(utc(us)));

/** The start of the UTC hour holding `us`, in microseconds. */
export const startOfUtcHour = (us: number): number => micros(startOfHour(utc(us)));

/** `us` rounded up to the next UTC midnight (itself when it is one). */
export function ceilToUtcDay(us: number): number {
  const start = startOfUtcDay(us);
  return start === us ? us : micros(addDays(utc(start), 1));
}

/** A day number as `YYYY-MM-DD`. */
export const dayName = (day: number): string => format(addDays(EPOCH, day), 'yyyy-MM-dd');

/** Parses `YYYY-MM-DD` (a real calendar date) to its day number, or null. */
export function parseDayName(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const d = parse(text, 'yyyy-MM-dd', EPOCH);
  return isValid(d) ? differenceInCalendarDays(d, EPOCH) : null;
}

/** Whole UTC calendar days from the day of `fromUs` to the day of `toUs`. */
export const calendarDaysBetween = (fromUs: number, toUs: number): number => differenceInCalendarDays(utc(toUs), utc(fromUs));

/** Whole days (24 h periods) elapsed from `fromUs` to `toUs`. */
export const fullDaysBetween = (fromUs: number, toUs: number): number => differenceInDays(utc(toUs), utc(fromUs));

/** `us` moved on by a duration (a break-glass window's end), on the UTC calendar, in microseconds. */
export function after(us: number, d: Duration): number {
  const ms = Math.floor(us / 1000);
  const end = micros(add(new UTCDate(ms), d)) + (us - ms * 1000);
  if (!Number.isFinite(end)) throw new InputError('that duration ends past any date kubetrail can hold');
  return end;
}

/** `nowMs` moved back by a duration (`{ days: 30 }`), on the UTC calendar, in microseconds. */
export const before = (nowMs: number, d: Duration): number => micros(sub(new UTCDate(nowMs), d));
