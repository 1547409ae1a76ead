import { expect } from 'chai';
import pg from 'pg';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { collect } from '../../../shared/rows.js';
import type { QueryStore } from '../../../shared/storage/port.js';
import { PgBatchStore } from '../../../shared/storage/postgres/pgBatchStore.js';
import { pgQueryStore } from '../../../shared/storage/postgres/pgQueryStore.js';
import { openPgStore } from '../../../shared/storage/postgres/pgStore.js';
import { rebuildPgUsageRollups } from '../../../shared/storage/postgres/pgUsage.js';
import { TEST_REDACTION_KEY, freshPgDatabase, makeEvent, parsedEvent, postgresUrl, testPipeline } from '../../helpers.js';

const clock = fixedClock(Date.parse('2026-07-23T12:00:00Z'));
const DAY1 = Date.parse('2026-07-23T00:00:00Z') * 1000;
const WINDOW = { cluster: 'prod', since: DAY1 - 86_400e6, until: DAY1 + 3 * 86_400e6 };
const pipeline = testPipeline({ detector: null });
const batchOf = (events: AuditEvent[]) => pipeline.prepare({ cluster: 'prod', source: 'test', events: events.map(parsedEvent), rejected: [] });

/** The window's usage as comparable lines: who, what, decision, synthetic, count. */
async function usageLines(store: QueryStore): Promise<string[]> {
  return (await collect(store.usage.read(WINDOW)))
    .map(({ user, record: r }) => {
      const a = r.attrs;
      const what = a.resourceRequest ? `${a.verb} ${a.apiGroup}/${a.resource}/${a.subresource} ${a.namespace}/${a.name}` : `${a.verb} ${a.path}`;
      return `${user.name} [${user.groups.join(',')}] ${what} ${r.decision}${r.synthetic ? ' synthetic' : ''} x${r.count}`;
    })
    .sort();
}

/** A watch of pods by `i`: its ResponseStarted and its ResponseComplete. */
function watchStages(i: number): [AuditEvent, AuditEvent] {
  const t = new Date(Date.parse('2026-07-23T10:00:00Z') + i * 1000).toISOString().replace('.000Z', '.000001Z');
  const started = makeEvent({
    auditID: `00000000-0000-4000-9000-${i.toString(16).padStart(12, '0')}`, verb: 'watch', stage: 'ResponseStarted', requestReceivedTimestamp: t, stageTimestamp: t,
    requestURI: '/api/v1/namespaces/team-a/pods?watch=1', objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' },
  });
  return [started, { ...started, stage: 'ResponseComplete' } as AuditEvent];
}

/** `n` gets, the i-th with auditID number `from + i`. */
function gets(from: number, n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const t = new Date(Date.parse('2026-07-23T11:00:00Z') + (from + i) * 1000).toISOString().replace('.000Z', '.000001Z');
    return makeEvent({ auditID: `00000000-0000-4000-8000-${(from + i).toString(16).padStart(12, '0')}`, requestReceivedTimestamp: t, stageTimestamp: t });
  });
}

async function rows(url: string, sql: string): Promise<unknown[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

const ROLLUPS = 'SELECT cluster_id, day, subject_id, atom_id, decision, reason_id, synthetic, count, first_at, last_at, first_audit, last_audit FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6, 7';

describe('usage rollups on PostgreSQL (a real server)', () => {
  let server: string;
  let db: { url: string; drop(): Promise<void> };
  const open = async () => PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
  const reader = async () => {
    const store = await openPgStore(db.url, { clock });
    return { query: pgQueryStore(store), close: () => store.close() };
  };

  before(function () {
    server = postgresUrl(this)!;
  });
  beforeEach(async () => {
    db = await freshPgDatabase(server);
  });
  afterEach(async () => db.drop());

  it('counts each action once, at its first stage after the decision, never a re-delivery, and impersonation as SQLite does', async () => {
    const writer = await open();
    const r = await reader();
    try {
      const get = makeEvent();
      const [watchStarted, watchEnded] = watchStages(1);
      await writer.write([batchOf([{ ...get, stage: 'RequestReceived', annotations: undefined } as AuditEvent, get, watchStarted])]);
      // The same request again (a retry), and the watch's end in a later transaction.
      await writer.write([batchOf([get, watchEnded])]);
      await writer.write([batchOf([makeEvent({ auditID: '00000000-0000-4000-8000-0000000000ff', user: { username: 'admin', groups: ['system:authenticated'] }, impersonatedUser: { username: 'bob', groups: ['qa', 'system:authenticated'] } })])]);
      expect(await usageLines(r.query)).to.deep.equal([
        'admin [system:authenticated] impersonate /groups/ /qa allow synthetic x1',
        'admin [system:authenticated] impersonate /users/ /bob allow synthetic x1',
        'alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x1',
        'alice [dev,system:authenticated] watch /pods/ team-a/ allow x1',
        'bob [qa,system:authenticated] get /pods/ team-a/web-1 allow x1',
      ]);
    } finally {
      await r.close();
      await writer.close();
    }
  });

  it('sums exactly with two writers at once: overlapping batches, and the two stages of each watch stored by different writers in the same moment', async () => {
    const [a, b] = [await open(), await open()];
    const r = await reader();
    try {
      const watches = Array.from({ length: 300 }, (_, i) => watchStages(i));
      for (let round = 0; round < 3; round++) {
        const part = watches.slice(round * 100, round * 100 + 100);
        const shared = gets(round * 1000, 500);
        // One stage of each watch by each writer, in transactions that otherwise share nothing
        // (a shared key would make one wait for the other's commit).
        await Promise.all([
          a.write([batchOf([...part.map((w) => w[0]), ...gets(round * 1000 + 500, 200)])]),
          b.write([batchOf([...part.map((w) => w[1]), ...gets(round * 1000 + 700, 100)])]),
        ]);
        // Both store the same gets, in opposite orders.
        await Promise.all([a.write([batchOf(shared)]), b.write([batchOf(shared.slice().reverse())])]);
      }
      expect(await usageLines(r.query)).to.deep.equal([
        'alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x2400',
        'alice [dev,system:authenticated] watch /pods/ team-a/ allow x300',
      ]);
      // And what a rebuild from the events finds is what the writers kept.
      const atIngest = await rows(db.url, ROLLUPS);
      const store = await openPgStore(db.url, { clock });
      try {
        expect(await rebuildPgUsageRollups(store.pool)).to.deep.equal({ actions: 2700, rows: 2 });
      } finally {
        await store.close();
      }
      expect(await rows(db.url, ROLLUPS)).to.deep.equal(atIngest);
    } finally {
      await r.close();
      await a.close();
      await b.close();
    }
  });

  it('builds the rollups of events stored before they were kept, when the migration is applied', async () => {
    const writer = await open();
    const [started, ended] = watchStages(0);
    await writer.write([batchOf([...gets(0, 3), started])]);
    await writer.close();
    // The store as an older kubetrail left it: its events, no rollups.
    await rows(db.url, `DROP TABLE usage_daily, usage_claims, usage_atoms, rbac_subjects, store_flags, access_review_decisions, access_reviews;
      DELETE FROM schema_migrations WHERE version IN (11, 12)`);
    const r = await reader();
    try {
      expect(await usageLines(r.query)).to.deep.equal(['alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x3', 'alice [dev,system:authenticated] watch /pods/ team-a/ allow x1']);
      expect(await rows(db.url, 'SELECT * FROM store_flags')).to.deep.equal([]);
    } finally {
      await r.close();
    }
    // The watch's end, stored later: its request was counted by the rebuild, not again.
    const again = await open();
    expect(await again.write([batchOf([ended])])).to.deep.equal([{ accepted: 1, duplicates: 0, quarantined: 0, conflicts: 0 }]);
    await again.close();
    const after = await reader();
    try {
      expect(await usageLines(after.query)).to.deep.equal(['alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x3', 'alice [dev,system:authenticated] watch /pods/ team-a/ allow x1']);
    } finally {
      await after.close();
    }
  });
});
