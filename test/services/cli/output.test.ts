import { Writable } from 'node:stream';
import { expect } from 'chai';
import { eventToActionRow } from '../../../shared/audit/actionRow.js';
import { writeRows } from '../../../services/cli/output.js';
import { makeEvent } from '../../helpers.js';

/** A stream that keeps what is written, or only counts lines when `keep` is false. */
function sink(keep: boolean): Writable & { text: string; lines: number } {
  const s = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString();
      if (keep) s.text += text;
      s.lines += text.split('\n').length - 1;
      done();
    },
  }) as Writable & { text: string; lines: number };
  s.text = '';
  s.lines = 0;
  return s;
}

describe('output formats', () => {
  it('writes a table of any size (no limit on --limit 0)', async () => {
    const rows = function* () {
      for (let i = 0; i < 200_000; i++) yield { a: i, b: 'x'.repeat(i % 7) };
    };
    const out = sink(false);
    expect(await writeRows(out, rows(), ['a', 'b'], 'table')).to.equal(200_000);
    expect(out.lines).to.equal(200_001);
  });

  it('aligns table columns and quotes CSV cells that need it, defusing formulas', async () => {
    const table = sink(true);
    await writeRows(table, [{ a: 'x', b: 1 }, { a: 'longer', b: 22 }], ['a', 'b'], 'table');
    expect(table.text).to.equal('A       B\nx       1\nlonger  22\n');
    const csv = sink(true);
    await writeRows(csv, [{ a: 'x,"y"', b: '=cmd()' }], ['a', 'b'], 'csv');
    expect(csv.text).to.equal('a,b\n"x,""y""",\'=cmd()\n');
  });

  it('shows the action time as RFC 3339 UTC with microseconds, whatever the event carried', () => {
    const e = makeEvent({ requestReceivedTimestamp: '2026-07-23T16:47:51.123456789+02:00' });
    expect(eventToActionRow(e, 'c').time).to.equal('2026-07-23T14:47:51.123456Z');
  });
});
