import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { decisionOf } from '../../../shared/audit/decision.js';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { ParsedEvent } from '../../../shared/audit/types.js';
import { systemClock } from '../../../services/cli/clock.js';
import { queryActions, readAllEvents } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { queryIdentities } from '../../../shared/storage/sqlite/queries/identityQuery.js';
import { writeBatches, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'decisions');
const FILES = ['no-annotations.v1beta1.jsonl', 'no-annotations.v1.jsonl'];
const EXPECTED = JSON.parse(readFileSync(join(FIXTURES, 'EXPECTED.json'), 'utf8')) as Record<string, [string, string | null]>;

function fixture(file: string): ParsedEvent[] {
  return readFileSync(join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const r = parseEvent(JSON.parse(line), `${file}:${i + 1}`);
      if (!('event' in r)) throw new Error(r.reason);
      return r;
    });
}

describe('authorization decisions where the capture has no annotation', () => {
  for (const file of FILES) {
    it(`${file}: each event gets the decision the apiserver's handler order implies`, () => {
      const events = fixture(file);
      expect(events).to.have.length(25);
      for (const p of events) {
        const got = decisionOf(p.event);
        expect([got.decision, got.source], `${p.event.auditID} (${p.event.stage} ${p.event.responseStatus?.code}: ${String(p.event.responseStatus?.message ?? '')})`).to.deep.equal(EXPECTED[p.event.auditID]);
      }
    });
  }

  it('stores the decision with where it came from, finds inferred denials, and gives back each event as received', () => {
    const dir = tempDir();
    const store = openStore(join(dir, 'k.db'), { clock: systemClock });
    try {
      const events = FILES.flatMap(fixture);
      writeBatches(new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'old', source: 'test', events, rejected: [] }]);
      const back = new Map([...readAllEvents(store.db)].map((s) => [`${s.event.apiVersion}/${s.event.auditID}`, s]));
      for (const p of events) {
        const s = back.get(`${p.event.apiVersion}/${p.event.auditID}`)!;
        // No decision annotation is made up on the way back.
        expect(s.event, p.event.auditID).to.deep.equal(p.event);
        expect([s.decision.decision, s.decision.source]).to.deep.equal(EXPECTED[p.event.auditID]);
      }
      const denied = [...queryActions(store.db, { decision: 'forbid', order: 'desc' })];
      const wanted = Object.entries(EXPECTED).filter(([, [d]]) => d === 'forbid').map(([id]) => id).sort();
      expect(denied.map((s) => s.event.auditID).sort()).to.deep.equal(wanted);
      expect(denied.filter((s) => s.decision.source === 'inferred')).to.have.length(8);
      const bob = [...queryIdentities(store.db, {})].find((i) => i.usernames.includes('bob'))!;
      expect(bob.denied).to.equal(8);
    } finally {
      store.close();
    }
  });

});
