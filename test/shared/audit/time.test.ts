import { expect } from 'chai';
import { formatMicroTime, isMicroTime, parseTime } from '../../../shared/audit/time.js';

describe('audit times', () => {
  const cases: [string, string | null][] = [
    ['2026-07-23T14:47:51.123456Z', '2026-07-23T14:47:51.123456Z'],
    ['2026-07-23T14:47:51.000001Z', '2026-07-23T14:47:51.000001Z'],
    ['2026-07-23T14:47:52.999999Z', '2026-07-23T14:47:52.999999Z'],
    ['2026-07-23T14:47:51Z', '2026-07-23T14:47:51.000000Z'],
    ['2026-07-23T14:47:51.5Z', '2026-07-23T14:47:51.500000Z'],
    ['2026-07-23T14:47:51.123456789Z', '2026-07-23T14:47:51.123456Z'],
    ['2026-07-23T16:47:51.123456+02:00', '2026-07-23T14:47:51.123456Z'],
    ['2026-07-23t14:47:51.123456z', '2026-07-23T14:47:51.123456Z'],
    ['1969-12-31T23:59:59.999999Z', '1969-12-31T23:59:59.999999Z'],
    ['2026-07-23T14:47:51.12345xZ', null],
    ['2026-02-30T14:47:51.123456Z', null],
    ['2026-07-23T25:47:51.123456Z', null],
    ['2026-07-23T14:60:00.000000Z', null],
    ['2026-07-23T14:59:60.000000Z', null],
    ['2026-07-23T24:00:00Z', null],
    ['2026-07-23 14:47:51', null],
    ['', null],
  ];
  for (const [text, expected] of cases) {
    it(`reads '${text}' as ${expected ?? 'not a time'}`, () => {
      const micros = parseTime(text);
      expect(micros === null ? null : formatMicroTime(micros)).to.equal(expected);
    });
  }

  it('gives the same answer on the fast path as on the general one, across second boundaries', () => {
    const base = Date.UTC(2026, 6, 23, 23, 59, 58) * 1000;
    for (let i = 0; i < 3_000_000; i += 99_991) {
      const text = formatMicroTime(base + i);
      expect(isMicroTime(text)).to.equal(true);
      expect(parseTime(text)).to.equal(base + i);
      expect(parseTime(text.replace('Z', '+00:00'))).to.equal(base + i);
    }
  });
});
