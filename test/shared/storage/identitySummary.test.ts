import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { queryIdentities } from '../../../shared/storage/sqlite/queries/identityQuery.js';
import { migrate, readMigrations } from '../../../shared/storage/sqlite/migrate.js';
import { MIGRATIONS_DIR, openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { writeBatches, makeEvent, parsedEvent, seededRandom, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const clock = fixedClock(Date.parse('2026-07-23T12:00:00Z'));
const HOUR = 3_600_000;
const T0 = Date.parse('2026-07-20T00:00:00Z');

/**
 * Requests of a few users over three days, each stored as its stages arrive: some with
 * RequestReceived and ResponseComplete, some with one stage, denials known only at their last
 * stage, two clusters, stages split across batches and sent twice.
 */
function requests(seed: number): { cluster: string; stages: AuditEvent[] }[] {
  const rand = seededRandom(seed);
  const users = ['alice', 'bob', 'system:serviceaccount:ci:runner', 'system:node:n1'];
  return Array.from({ length: 400 }, (_, i) => {
    const at = new Date(T0 + Math.floor(rand() * 72 * HOUR)).toISOString().replace('Z', '000Z');
    const user = { username: users[Math.floor(rand() * users.length)]!, groups: ['system:authenticated'] };
    const denied = rand() < 0.2;
    const auditID = `5e0f0000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
    const base = { auditID, user, requestReceivedTimestamp: at, stageTimestamp: at };
    const last = makeEvent({ ...base, ...(denied ? { annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' }, responseStatus: { metadata: {}, code: 403 } } : {}) });
    const first = makeEvent({ ...base, stage: 'RequestReceived', annotations: {}, responseStatus: undefined });
    const shape = rand();
    const stages = shape < 0.4 ? [first, last] : shape < 0.8 ? [last] : [first];
    return { cluster: rand() < 0.8 ? 'east' : 'west', stages };
  });
}

function store(path: string, seed: number, batches: number): Store {
  const s = openStore(path, { clock });
  const writer = new EventWriter(s, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY });
  const all = requests(seed).flatMap((r) => r.stages.map((e) => ({ cluster: r.cluster, e })));
  for (let b = 0; b < batches; b++) {
    for (const cluster of ['east', 'west']) {
      const part = all.filter((x, i) => i % batches === b && x.cluster === cluster).map((x) => parsedEvent(x.e));
      writeBatches(writer, [{ cluster, source: 'test', events: part, rejected: [] }]);
    }
  }
  // Sent again: duplicates, which count for nothing.
  writeBatches(writer, [{ cluster: 'east', source: 'test', events: all.filter((x) => x.cluster === 'east').slice(0, 50).map((x) => parsedEvent(x.e)), rejected: [] }]);
  return s;
}

/** What the identities list must say, counted from the stored events themselves. */
function fromEvents(s: Store, since?: number, until?: number): Record<string, [number, number, number, number]> {
  const rows = s.db
    .prepare(
      `SELECT p.username AS u, count(*) AS actions, sum(denied) AS denied, min(received_at) AS first, max(received_at) AS last
       FROM (SELECT user_id, received_at, max(decision = 2) AS denied FROM events
             WHERE received_at >= ? AND received_at < ? GROUP BY cluster_id, audit_id, received_at, user_id) e
       JOIN principals p ON p.id = e.user_id GROUP BY p.username`,
    )
    .all(since ?? -Number.MAX_SAFE_INTEGER, until ?? Number.MAX_SAFE_INTEGER) as { u: string; actions: number; denied: number; first: number; last: number }[];
  return Object.fromEntries(rows.map((r) => [r.u, [r.actions, r.denied, r.first, r.last]]));
}

function listed(s: Store, since?: number, until?: number): Record<string, [number, number, number, number]> {
  const micros = (t: string) => Date.parse(t) * 1000 + Number(t.slice(23, 26) || 0);
  return Object.fromEntries([...queryIdentities(s.db, { since, until })].map((r) => [r.usernames[0]!, [r.actions, r.denied, micros(r.firstSeen), micros(r.lastSeen)]]));
}

describe('identities list from the requests kept as events are stored', () => {
  it('counts each request once, its denial once, with its first and last time, as the stored events do', () => {
    const s = store(join(tempDir(), 'k.db'), 7, 3);
    try {
      const expected = fromEvents(s);
      expect(Object.keys(expected)).to.have.length(4);
      expect(listed(s)).to.deep.equal(expected);
      // A range in whole hours gives what the events of those hours give.
      const since = (T0 + 5 * HOUR) * 1000;
      const until = (T0 + 29 * HOUR) * 1000;
      expect(listed(s, since, until)).to.deep.equal(fromEvents(s, since, until));
    } finally {
      s.close();
    }
  });

  it('counts the events of a store made before it was kept, when the store is next opened', () => {
    const path = join(tempDir(), 'old.db');
    const fresh = store(join(tempDir(), 'new.db'), 11, 2);
    const expected = listed(fresh);
    fresh.close();
    // The same events, stored by a kubetrail that kept no such summary.
    const s = store(path, 11, 2);
    s.db.exec('DROP TABLE principal_activity');
    s.db.exec('DELETE FROM schema_migrations WHERE version = 21');
    s.close();
    const old = new BetterSqlite3(path);
    migrate(old, readMigrations(MIGRATIONS_DIR), clock);
    old.close();
    const reopened = openStore(path, { clock });
    try {
      expect(listed(reopened)).to.deep.equal(expected);
    } finally {
      reopened.close();
    }
  });
});
