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

  it('shows lists as their first items and their number, objects as key=value, and keeps everything in JSON', async () => {
    const ids = Array.from({ length: 437 }, (_, i) => `0c9f${String(i).padStart(4, '0')}-6c3e-4c1e-9d3b-1f0e2a9b7c55`);
    const row = { id: 7, auditIDs: ids, findings: { 'secret-read': 3, impersonation: 1 }, effectiveUser: ['bob', 'alice'] };
    const table = sink(true);
    await writeRows(table, [row], ['id', 'auditIDs', 'findings', 'effectiveUser'], 'table');
    const line = table.text.split('\n')[1]!;
    expect(line.length).to.be.lessThan(200);
    expect(line).to.contain(`${ids[0]} … (437 in all)`).and.contain('secret-read=3,impersonation=1').and.contain('bob,alice');
    expect(line).to.not.contain('[object Object]');
    const json = sink(true);
    await writeRows(json, [row], ['id', 'auditIDs'], 'json');
    expect(JSON.parse(json.text)[0]).to.deep.equal(row);
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
