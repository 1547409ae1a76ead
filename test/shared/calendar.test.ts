import { UTCDate } from '@date-fns/utc';
import { differenceInCalendarDays, differenceInHours, startOfDay } from 'date-fns';
import { expect } from 'chai';
import { after, before, ceilToUtcDay, dayName, dayStart, fullDaysBetween, parseDayName, startOfUtcDay, utcDay, utcHour } from '../../shared/calendar.js';
import { InputError } from '../../shared/errors.js';
import { parseDuration, parseTimeBound } from '../../shared/query/timeBound.js';
import { seededRandom } from '../helpers.js';

const EPOCH = new UTCDate(0);

describe('the UTC calendar of stored times', () => {
  it("holds the integer day and hour of each time to date-fns' UTC calendar, before 1970 and after 2100 too", () => {
    const rand = seededRandom(18);
    const cases = [0, -1, 1, 86_400_000_000 - 1, 86_400_000_000, Date.UTC(1969, 11, 31, 23, 59, 59) * 1000 + 999_999, Date.UTC(2100, 1, 28) * 1000, Date.UTC(2028, 1, 29, 12) * 1000];
    for (let i = 0; i < 2000; i++) cases.push(Math.floor((rand() - 0.3) * 8e18 / 1000) * 1000 + Math.floor(rand() * 1000));
    for (const us of cases) {
      const d = new UTCDate(Math.floor(us / 1000));
      expect(utcDay(us), `${us}`).to.equal(differenceInCalendarDays(d, EPOCH));
      expect(utcHour(us), `${us}`).to.equal(Math.floor(differenceInHours(startOfDay(d), EPOCH) / 24) * 24 + d.getUTCHours());
      expect(startOfUtcDay(us)).to.equal(dayStart(utcDay(us)));
    }
  });

  it('names days and parses only real calendar dates', () => {
    expect(dayName(0)).to.equal('1970-01-01');
    expect(dayName(-1)).to.equal('1969-12-31');
    expect(parseDayName('2028-02-29')).to.equal(utcDay(Date.UTC(2028, 1, 29) * 1000));
    for (const bad of ['2026-02-29', '2026-13-01', '2026-1-01', '2026-01-01T00:00Z', '', '2026-00-10']) expect(parseDayName(bad), bad).to.equal(null);
    for (const day of [-400, 0, 20_000, 21_524, 60_000]) expect(parseDayName(dayName(day))).to.equal(day);
  });

  it('rounds to whole days and counts days elapsed', () => {
    const noon = Date.UTC(2026, 11, 6, 12) * 1000;
    expect(startOfUtcDay(noon)).to.equal(Date.UTC(2026, 11, 6) * 1000);
    expect(ceilToUtcDay(noon)).to.equal(Date.UTC(2026, 11, 7) * 1000);
    expect(ceilToUtcDay(Date.UTC(2026, 11, 7) * 1000)).to.equal(Date.UTC(2026, 11, 7) * 1000);
    expect(fullDaysBetween(Date.UTC(2026, 0, 1, 23) * 1000, Date.UTC(2026, 0, 31, 22) * 1000)).to.equal(29);
    expect(before(Date.UTC(2026, 2, 1), { days: 1 })).to.equal(Date.UTC(2026, 1, 28) * 1000);
  });

  it('ends a break-glass window by the calendar, keeping microseconds, and refuses one past any date', () => {
    const from = Date.UTC(2026, 11, 6, 2, 15) * 1000 + 123;
    expect(after(from, parseDuration('2h', '--for'))).to.equal(from + 2 * 3_600_000_000);
    expect(after(from, parseDuration('2w', '--for'))).to.equal(from + 14 * 86_400_000_000);
    expect(() => parseDuration('0h', '--for')).to.throw(InputError, /--for: expected a duration/);
    expect(() => after(from, parseDuration('99999999999999w', '--for'))).to.throw(InputError, /past any date/);
    expect(() => parseTimeBound('9999999999999d', '--since', Date.UTC(2026, 0, 1))).to.throw(InputError, /--since: '9999999999999d' reaches before any date/);
  });

  it('takes --since durations back from the now it is given, on any day', () => {
    for (const now of [Date.UTC(2019, 5, 1), Date.UTC(2026, 11, 6, 2, 15), Date.UTC(2027, 11, 6, 2, 15), Date.UTC(2040, 1, 29)]) {
      expect(parseTimeBound('30d', '--since', now)).to.equal((now - 30 * 86_400_000) * 1000);
      expect(parseTimeBound('2w', '--since', now)).to.equal((now - 14 * 86_400_000) * 1000);
      expect(parseTimeBound('90s', '--since', now)).to.equal((now - 90_000) * 1000);
      expect(parseTimeBound('2026-01-02T03:04:05Z', '--since', now)).to.equal(Date.UTC(2026, 0, 2, 3, 4, 5) * 1000);
    }
  });
});
