import { systemClock } from '../../../services/cli/clock.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { queryActions, type ActionPosition, type EventFilter } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { writeBatches, makeEvent, parsedEvent, seededRandom, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

describe('action queries: order and pages', () => {
  const dir = tempDir();

  it('order actions by (time, auditID, cluster) and page through them exactly, through request times larger than a chunk', () => {
    const store = openStore(join(dir, 'q.db'), { clock: systemClock });
    try {
      const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
      const rand = seededRandom(7);
      const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
      const events: AuditEvent[] = [];
      // 300 actions at one microsecond (more than a chunk), UUIDs (stored as bytes) and other auditIDs
      // (stored as text), some with two stages; and 200 spread over a minute.
      for (let i = 0; i < 500; i++) {
        const same = i < 300;
        const t = same ? '2026-07-23T10:00:00.000000Z' : `2026-07-23T10:00:${String(Math.floor(rand() * 60)).padStart(2, '0')}.${String(Math.floor(rand() * 1e6)).padStart(6, '0')}Z`;
        const auditID = i % 5 === 0 ? `req-${hex(6)}` : `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
        const e = makeEvent({ auditID, requestReceivedTimestamp: t, stageTimestamp: t, user: { username: i % 3 ? 'alice' : 'bob', groups: [] } });
        events.push(e);
        if (i % 7 === 0) events.push({ ...e, stage: 'ResponseStarted' } as AuditEvent);
      }
      writeBatches(writer, [{ cluster: 'east', source: 'test', events: events.filter((_, i) => i % 2 === 0).map(parsedEvent), rejected: [] }]);
      writeBatches(writer, [{ cluster: 'west', source: 'test', events: events.map(parsedEvent), rejected: [] }]);
      for (const order of ['desc', 'asc'] as const) {
        for (const base of [{}, { user: 'alice' }] as EventFilter[]) {
          const all = [...queryActions(store.db, { ...base, order })];
          const key = (s: (typeof all)[number]) => `${s.event.requestReceivedTimestamp} ${s.cluster} ${s.event.auditID}`;
          // Each action once, from its most complete stage.
          expect(new Set(all.map(key)).size).to.equal(all.length);
          expect(all.every((s) => s.event.stage === 'ResponseComplete')).to.equal(true);
          const pages: string[] = [];
          let after: ActionPosition | undefined;
          for (let n = 0; n < 500; n++) {
            const page = [...queryActions(store.db, { ...base, order, limit: 7, ...(after ? { after } : {}) })];
            pages.push(...page.map(key));
            if (page.length < 7) break;
            after = page.at(-1)!.position;
          }
          expect(pages, `${order} ${JSON.stringify(base)}`).to.deep.equal(all.map(key));
        }
      }
      // The order itself, computed apart: time, then the auditID as SQLite orders what it stores
      // (text, for other auditIDs, before the bytes of a lower-case UUID), then the cluster's id.
      const clusterId = (name: string) => store.db.prepare('SELECT id FROM strings WHERE value = ?').pluck().get(name) as number;
      const stored = (id: string) => (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? `1${id.replace(/-/g, '')}` : `0${Buffer.from(id).toString('hex')}`);
      const asc = [...queryActions(store.db, { order: 'asc' })];
      const expected = [...asc].sort((a, b) =>
        a.event.requestReceivedTimestamp.localeCompare(b.event.requestReceivedTimestamp) ||
        (stored(a.event.auditID) < stored(b.event.auditID) ? -1 : stored(a.event.auditID) > stored(b.event.auditID) ? 1 : 0) ||
        clusterId(a.cluster) - clusterId(b.cluster));
      expect(asc.map((s) => s.id)).to.deep.equal(expected.map((s) => s.id));
      expect([...queryActions(store.db, {})].map((s) => s.id)).to.deep.equal(expected.map((s) => s.id).reverse());
    } finally {
      store.close();
    }
  });
});

describe('action queries: who acted, and as whom', () => {
  it('--user finds what was done as a user, by her own credential or by someone impersonating her; --actor and --effective-user stay exact', () => {
    // Recorded from a real apiserver: erin lists pods as alice (allowed) and bob tries to (refused).
    const lines = readFileSync(join(process.cwd(), 'test', 'fixtures', 'rbac-usage', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    const store = openStore(join(tempDir(), 'who.db'), { clock: systemClock });
    try {
      writeBatches(new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'rec', source: 'test', events: lines.map((l) => parsedEvent(JSON.parse(l) as AuditEvent)), rejected: [] }]);
      const who = (f: EventFilter) => [...queryActions(store.db, { ...f, order: 'asc' })].map((s) => `${s.event.user.username}${s.event.impersonatedUser ? ` as ${s.event.impersonatedUser.username}` : ''} ${s.event.verb} ${s.event.requestURI}`);
      const asAlice = ['erin as alice list /api/v1/namespaces/payments/pods', 'erin as alice list /api/v1/namespaces/ops/pods'];
      expect(who({ user: 'alice' })).to.have.length(9).and.include.members(asAlice);
      expect(who({ actor: 'alice' })).to.have.length(7).and.not.include.members(asAlice);
      expect(who({ effectiveUser: 'alice' })).to.have.length(9).and.include.members(asAlice);
      expect(who({ user: 'erin' })).to.have.length(5);
      expect(who({ effectiveUser: 'erin' })).to.have.length(3);
    } finally {
      store.close();
    }
  });
});
