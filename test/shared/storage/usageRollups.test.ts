import { systemClock } from '../../../services/cli/clock.js';
import { join } from 'node:path';
import { expect } from 'chai';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { readUsage } from '../../../shared/storage/sqlite/queries/usageQuery.js';
import { rebuildUsageRollups } from '../../../shared/storage/sqlite/tables/usageRollups.js';
import { writeBatches, makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const DAY1 = Date.parse('2026-07-23T00:00:00Z') * 1000;
const WINDOW = { cluster: 'prod', since: DAY1 - 86_400e6, until: DAY1 + 3 * 86_400e6 };

/** The window's usage as comparable lines: who, what, decision, synthetic, count. */
function usageLines(store: Store, filter = WINDOW): string[] {
  return [...readUsage(store.db, filter)]
    .map(({ user, record: r }) => {
      const a = r.attrs;
      const what = a.resourceRequest ? `${a.verb} ${a.apiGroup}/${a.resource}/${a.subresource} ${a.namespace}/${a.name}` : `${a.verb} ${a.path}`;
      return `${user.name} [${user.groups.join(',')}] ${what} ${r.decision}${r.synthetic ? ' synthetic' : ''} x${r.count}`;
    })
    .sort();
}

describe('usage rollups', () => {
  const dir = tempDir();
  let store: Store;
  let writer: EventWriter;

  beforeEach(function () {
    store = openStore(join(dir, `${this.currentTest!.title.replace(/\W+/g, '-')}.db`), { clock: systemClock });
    writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
  });
  afterEach(() => store.close());

  const write = (events: AuditEvent[]) => writeBatches(writer, [{ cluster: 'prod', source: 'test', events: events.map(parsedEvent), rejected: [] }]);
  /** Closes the store and opens it again (a restart). */
  const reopen = () => {
    const path = store.path;
    store.close();
    store = openStore(path, { clock: systemClock });
  };

  it('counts each action once, at its first stage after the decision, and never a re-delivery', () => {
    const get = makeEvent();
    const watchStarted = makeEvent({ verb: 'watch', stage: 'ResponseStarted', requestURI: '/api/v1/namespaces/team-a/pods?watch=1', objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' } });
    write([{ ...get, stage: 'RequestReceived', annotations: undefined } as AuditEvent, get, watchStarted]);
    // The same request again (a retry), and the watch's end in a later batch.
    write([get, { ...watchStarted, stage: 'ResponseComplete' } as AuditEvent]);
    expect(usageLines(store)).to.deep.equal([
      'alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x1',
      'alice [dev,system:authenticated] watch /pods/ team-a/ allow x1',
    ]);
  });

  it('gives a window\'s first and last request of each use, over days, whatever the order they were stored in', () => {
    const at = (iso: string, id: string) => makeEvent({ auditID: id, requestReceivedTimestamp: iso, stageTimestamp: iso });
    write([at('2026-07-24T09:00:00.000001Z', '00000000-0000-4000-8000-00000000000c')]);
    write([at('2026-07-23T10:00:00.000001Z', '00000000-0000-4000-8000-00000000000a'), at('2026-07-23T11:00:00.000001Z', '00000000-0000-4000-8000-00000000000b')]);
    write([at('2026-07-25T08:00:00.000001Z', '00000000-0000-4000-8000-00000000000d'), at('2026-07-25T07:00:00.000001Z', '00000000-0000-4000-8000-00000000000e')]);
    // AuditIDs that are not UUIDs are kept as received.
    const other = (iso: string, id: string) => ({ ...at(iso, id), requestURI: '/api/v1/namespaces/team-a/pods/web-2', objectRef: { resource: 'pods', namespace: 'team-a', name: 'web-2', apiVersion: 'v1' } }) as AuditEvent;
    write([other('2026-07-24T09:00:00.000001Z', 'req-2'), other('2026-07-23T09:00:00.000001Z', 'req-1')]);
    const [use, web2, ...others] = [...readUsage(store.db, WINDOW)].sort((a, b) => a.record.count - b.record.count).reverse();
    expect(others).to.deep.equal([]);
    expect(web2!.record.samples).to.deep.equal(['req-1', 'req-2']);
    expect(use!.record).to.deep.include({ count: 5, firstAt: Date.parse('2026-07-23T10:00:00Z') * 1000 + 1, lastAt: Date.parse('2026-07-25T08:00:00Z') * 1000 + 1 });
    expect(use!.record.samples).to.deep.equal(['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000d']);
  });

  it('keeps the attributes the authorizer saw: no name for a create, the field-selector name of a list', () => {
    write([
      makeEvent({ verb: 'create', requestURI: '/api/v1/namespaces/team-a/pods', objectRef: { resource: 'pods', namespace: 'team-a', name: 'web-2', apiVersion: 'v1' } }),
      makeEvent({ verb: 'list', requestURI: '/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dcm1', objectRef: { resource: 'configmaps', namespace: 'team-a', apiVersion: 'v1' } }),
      makeEvent({ verb: 'get', requestURI: '/healthz?verbose', objectRef: undefined, annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } }),
    ]);
    expect(usageLines(store)).to.deep.equal([
      'alice [dev,system:authenticated] create /pods/ team-a/ allow x1',
      'alice [dev,system:authenticated] get /healthz forbid x1',
      'alice [dev,system:authenticated] list /configmaps/ team-a/cm1 allow x1',
    ]);
  });

  it('stores and counts a request whose object name holds NUL (a %00 in its path), next to one without', () => {
    // An apiserver logs the name it decoded from the path: a probe can put NUL in it.
    const odd = makeEvent({ requestURI: '/api/v1/namespaces/team-a/pods/a%00b', objectRef: { resource: 'pods', namespace: 'team-a', name: 'a\u0000b', apiVersion: 'v1' } });
    const [result] = write([odd, makeEvent({ objectRef: { resource: 'pods', namespace: 'team-a', name: '\u0001x', apiVersion: 'v1' }, requestURI: '/api/v1/namespaces/team-a/pods/%01x' })]);
    expect(result!.accepted).to.equal(2);
    expect(store.db.prepare('SELECT name FROM objects ORDER BY name').pluck().all()).to.deep.equal(['\u0001x', 'a\u0000b']);
    expect(usageLines(store)).to.deep.equal([
      'alice [dev,system:authenticated] get /pods/ team-a/\u0001x allow x1',
      'alice [dev,system:authenticated] get /pods/ team-a/a\u0000b allow x1',
    ]);
    const atIngest = store.db.prepare('SELECT * FROM usage_daily ORDER BY atom_id').all();
    rebuildUsageRollups(store.db);
    expect(store.db.prepare('SELECT * FROM usage_daily ORDER BY atom_id').all()).to.deep.equal(atIngest);
  });

  it('counts an impersonated request for the impersonated user, and the impersonation checks for the actor', () => {
    write([
      makeEvent({
        user: { username: 'admin', groups: ['system:authenticated'] },
        impersonatedUser: { username: 'bob', groups: ['qa', 'system:authenticated'] },
      }),
    ]);
    expect(usageLines(store)).to.deep.equal([
      'admin [system:authenticated] impersonate /groups/ /qa allow synthetic x1',
      'admin [system:authenticated] impersonate /users/ /bob allow synthetic x1',
      'bob [qa,system:authenticated] get /pods/ team-a/web-1 allow x1',
    ]);
  });

  it('sums one subject over its tokens and days, and keeps the window', () => {
    const day2 = '2026-07-24T08:00:00.000000Z';
    write([
      makeEvent({ user: { username: 'alice', groups: ['system:authenticated', 'dev'], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=1'] } } }),
      makeEvent({ user: { username: 'alice', groups: ['dev', 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=2'] } } }),
      makeEvent({ requestReceivedTimestamp: day2, stageTimestamp: day2 }),
    ]);
    expect(usageLines(store)).to.deep.equal(['alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x3']);
    const rows = store.db.prepare('SELECT day, count FROM usage_daily ORDER BY day').all();
    expect(rows).to.deep.equal([{ day: DAY1 / 86_400e6, count: 2 }, { day: DAY1 / 86_400e6 + 1, count: 1 }]);
    expect(usageLines(store, { ...WINDOW, since: DAY1 + 86_400e6 })).to.deep.equal(['alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x1']);
  });

  it('rebuilds from the events exactly what ingest kept', () => {
    const watch = makeEvent({ verb: 'watch', stage: 'ResponseStarted', requestURI: '/api/v1/pods?watch=1', objectRef: { resource: 'pods', apiVersion: 'v1' } });
    write([
      makeEvent(), makeEvent({ verb: 'create', requestURI: '/api/v1/namespaces/team-a/pods', objectRef: { resource: 'pods', namespace: 'team-a', name: 'x', apiVersion: 'v1' } }),
      watch, { ...watch, stage: 'ResponseComplete' } as AuditEvent,
      makeEvent({ impersonatedUser: { username: 'system:serviceaccount:ci:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'] } }),
    ]);
    const table = () => store.db.prepare('SELECT * FROM usage_daily ORDER BY subject_id, atom_id, decision, synthetic').all();
    const hourly = () => store.db.prepare('SELECT * FROM activity_hourly ORDER BY principal_id, hour, verb_id, decision').all() as { count: number }[];
    const atIngest = table();
    const hourlyAtIngest = hourly();
    expect(atIngest.length).to.equal(5);
    // Each action once in its actor's hour: the watch's two stages are one action.
    expect(hourlyAtIngest.reduce((n, r) => n + r.count, 0)).to.equal(4);
    expect(rebuildUsageRollups(store.db)).to.deep.equal({ actions: 4, rows: 5 });
    expect(table()).to.deep.equal(atIngest);
    expect(hourly()).to.deep.equal(hourlyAtIngest);
  });

  it('builds the rollups of actions stored before they were kept, when the migration is applied', function () {
    write([makeEvent(), makeEvent({ verb: 'delete' })]);
    // The store as it was before migration 7: same events, no rollups.
    store.db.exec("DROP TABLE usage_daily; DROP TABLE usage_atoms; DROP TABLE rbac_subjects; DELETE FROM schema_migrations WHERE version = 7");
    reopen();
    expect(usageLines(store)).to.deep.equal([
      'alice [dev,system:authenticated] delete /pods/ team-a/web-1 allow x1',
      'alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x1',
    ]);
    expect(store.db.prepare("SELECT count(*) FROM meta WHERE key = 'usage_rollups_rebuild'").pluck().get()).to.equal(0);
  });

  it('keeps counts exact with two writers on one store, and a third process opening it meanwhile', () => {
    const other = openStore(store.path, { clock: systemClock });
    try {
      const second = new EventWriter(other, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
      const writeWith = (w: EventWriter, events: AuditEvent[]) => writeBatches(w, [{ cluster: 'prod', source: 'test', events: events.map(parsedEvent), rejected: [] }]);
      for (let i = 0; i < 3; i++) {
        writeWith(writer, [makeEvent(), makeEvent({ verb: 'delete' })]);
        writeWith(second, [makeEvent()]);
        // A report (another process) opening the store in between changes nothing.
        openStore(store.path, { clock: systemClock }).close();
      }
    } finally {
      other.close();
    }
    reopen();
    expect(usageLines(store)).to.deep.equal([
      'alice [dev,system:authenticated] delete /pods/ team-a/web-1 allow x3',
      'alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x6',
    ]);
  });

  it('stores nothing of a commit that fails, and counts the batch when it is sent again', () => {
    const e = makeEvent();
    store.db.exec("CREATE TEMP TRIGGER fail_once BEFORE INSERT ON bodies BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const withBody = { ...e, level: 'Request', requestObject: { kind: 'Pod' } } as AuditEvent;
    expect(() => write([makeEvent({ verb: 'list', requestURI: '/api/v1/namespaces/team-a/pods', objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' } }), withBody])).to.throw(/disk full/);
    expect(usageLines(store)).to.deep.equal([]);
    store.db.exec('DROP TRIGGER fail_once');
    write([withBody]);
    expect(usageLines(store)).to.deep.equal(['alice [dev,system:authenticated] get /pods/ team-a/web-1 allow x1']);
  });
});
