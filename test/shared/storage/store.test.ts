import { systemClock } from '../../../services/cli/clock.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import { createRedactor, redactBodies } from '../../../shared/audit/redact.js';
import type { AuditEvent, ParsedEvent } from '../../../shared/audit/types.js';
import { queryActions, readAllEvents } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { eventToRecord, recordToEvent } from '../../../shared/storage/eventRecord.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import type { WriteBatch } from '../../../shared/pipeline/prepareEvent.js';
import { openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { parseLine } from '../../../services/ingest/lines.js';
import { writeBatches, corpusDir, makeEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

function parsed(e: Record<string, unknown>, position = 'test'): ParsedEvent {
  const r = parseEvent(e, position);
  if (!('event' in r)) throw new Error(r.reason);
  return r;
}

function batch(events: ParsedEvent[], cluster = 'prod'): WriteBatch {
  return { cluster, source: 'test', events, rejected: [] };
}

/** What the store must give back for an event: the event, with its bodies redacted. */
function expectedBack(p: ParsedEvent, store: Store): AuditEvent {
  const { requestObject: _q, responseObject: _r, ...meta } = p.event;
  return { ...meta, ...redactBodies(p.event, createRedactor(TEST_REDACTION_KEY)) } as AuditEvent;
}

/** Events that exercise every way a field can be present, absent, empty or unusual. */
function oddEvents(): AuditEvent[] {
  return [
    makeEvent({ requestReceivedTimestamp: '2026-07-23T14:47:51.123456789Z', stageTimestamp: '2026-07-23T16:47:52+02:00' }),
    makeEvent({ auditID: 'A-CLIENT-SET-ID' }),
    makeEvent({ auditID: '0B6B0F56-8A3E-4C1E-9D1C-00000000FFFF' }),
    makeEvent({
      objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: 'n1', uid: 'u-1', apiGroup: 'coordination.k8s.io', apiVersion: 'v1', resourceVersion: '0042', future: 'x' },
      requestURI: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1?timeout=10s',
    }),
    makeEvent({ objectRef: { resource: 'pods', apiGroup: '', namespace: '', name: '' }, requestURI: '/api/v1/pods?' }),
    makeEvent({ objectRef: {}, requestURI: '/api/v1/pods' }),
    makeEvent({ objectRef: undefined, requestURI: '/healthz?verbose', verb: 'get', annotations: {} }),
    makeEvent({ responseStatus: { metadata: { resourceVersion: '1' }, status: 'Failure', message: 'pods "x" not found', reason: 'NotFound', details: { name: 'x', kind: 'pods' }, code: 404 } }),
    makeEvent({ responseStatus: {}, annotations: { 'authorization.k8s.io/decision': 'maybe', 'pod-security.kubernetes.io/enforce-policy': 'restricted:latest' } }),
    makeEvent({ stage: 'RequestReceived', responseStatus: undefined, annotations: undefined, sourceIPs: [], userAgent: '' }),
    makeEvent({
      user: { username: 'system:serviceaccount:ci:deployer', uid: 'u1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] } },
      impersonatedUser: { username: 'bob', groups: ['system:authenticated'] },
      authenticationMetadata: { impersonationConstraint: 'impersonate:user-info' },
      annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' },
    }),
    makeEvent({ user: {}, verb: '', stage: 'ResponseStarted', responseStatus: { metadata: {}, code: 401, message: 'Authentication failed, no credentials provided' } }),
    makeEvent({ level: 'Request', requestObject: { kind: 'Pod', spec: { containers: [{ name: 'c', env: [{ name: 'A', value: 's3cr3t' }] }] } } }),
  ].map((e) => {
    for (const [k, v] of Object.entries(e)) if (v === undefined) delete (e as Record<string, unknown>)[k];
    return e;
  });
}

describe('event record', () => {
  it('rebuilds every field of unusual events from the columns alone', () => {
    for (const e of oddEvents()) {
      const { requestObject: _q, ...meta } = parsed(e).event;
      expect(recordToEvent(eventToRecord(parsed(e), 'c'))).to.deep.equal(meta);
    }
  });

  it('stores no path when the objectRef implies it, and the path when it does not', () => {
    expect(eventToRecord(parsed(makeEvent()), 'c').path).to.equal(null);
    const create = makeEvent({ verb: 'create', requestURI: '/api/v1/namespaces/team-a/pods' });
    expect(eventToRecord(parsed(create), 'c').path).to.equal('/api/v1/namespaces/team-a/pods');
  });
});

describe('store', () => {
  let store: Store;
  let writer: EventWriter;
  const dir = tempDir();

  beforeEach(function () {
    store = openStore(join(dir, `${this.currentTest!.title.replace(/\W+/g, '-')}.db`), { clock: systemClock });
    writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
  });
  afterEach(() => store.close());

  it('applies the migrations once and records them', () => {
    const rows = store.db.prepare('SELECT version, name FROM schema_migrations').all();
    expect(rows).to.deep.equal([
      { version: 1, name: '0001_events.sql' },
      { version: 2, name: '0002_identities.sql' },
      { version: 3, name: '0003_alerts.sql' },
      { version: 4, name: '0004_alert_identity.sql' },
      { version: 5, name: '0005_issued_credentials.sql' },
      { version: 6, name: '0006_rbac_snapshots.sql' },
      { version: 7, name: '0007_usage_rollups.sql' },
      { version: 8, name: '0008_self_audit.sql' },
      { version: 9, name: '0009_query_paths.sql' },
      { version: 10, name: '0010_hash_chain.sql' },
      { version: 11, name: '0011_access_reviews.sql' },
      { version: 12, name: '0012_pipeline_gaps.sql' },
      { version: 13, name: '0013_archives.sql' },
      { version: 14, name: '0014_pipeline_streams.sql' },
      { version: 15, name: '0015_archive_deletion.sql' },
      { version: 16, name: '0016_events_impersonated.sql' },
      { version: 17, name: '0017_alert_identity_values.sql' },
      { version: 18, name: '0018_quarantine_redacted.sql' },
      { version: 19, name: '0019_self_audit_counts.sql' },
      { version: 20, name: '0020_principal_keys.sql' },
      { version: 21, name: '0021_principal_activity.sql' },
      { version: 22, name: '0022_user_tokens.sql' },
      { version: 23, name: '0023_credential_minters.sql' },
      { version: 24, name: '0024_cluster_spans.sql' },
    ]);
    store.close();
    store = openStore(store.path, { clock: systemClock });
    expect(store.db.prepare('SELECT count(*) AS n FROM schema_migrations').get()).to.deep.equal({ n: rows.length });
    expect(store.db.pragma('journal_mode', { simple: true })).to.equal('wal');
  });

  it('gives back every unusual event exactly, bodies redacted', () => {
    const events = oddEvents().map((e) => parsed(e));
    expect(writeBatches(writer, [batch(events)])).to.deep.equal([{ accepted: events.length, duplicates: 0, quarantined: 0, conflicts: 0 }]);
    const back = [...readAllEvents(store.db)];
    expect(back.map((s) => s.event)).to.deep.equal(events.map((p) => expectedBack(p, store)));
    expect(back.every((s) => s.cluster === 'prod')).to.equal(true);
    const env = (back.at(-1)!.event.requestObject as { spec: { containers: { env: { value: string }[] }[] } }).spec.containers[0]!.env[0]!;
    expect(env.value).to.match(/^kubetrail:redacted:[0-9a-f]{64}$/);
  });

  it('stores a later request that reuses an auditID as a request of its own', () => {
    const e = makeEvent();
    const later = { ...e, requestReceivedTimestamp: '2026-07-23T15:00:00.000000Z', stageTimestamp: '2026-07-23T15:00:00.100000Z' };
    writeBatches(writer, [batch([parsed(e)])]);
    expect(writeBatches(writer, [batch([parsed(later)])])[0]).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 0, conflicts: 0 });
    expect([...queryActions(store.db, {})].map((s) => s.event.requestReceivedTimestamp)).to.deep.equal([
      '2026-07-23T15:00:00.000000Z',
      '2026-07-23T14:47:51.123456Z',
    ]);
  });

  it('counts re-delivered events as duplicates, per (cluster, auditID, stage)', () => {
    const e = makeEvent();
    const received = makeEvent({ auditID: e.auditID, stage: 'RequestReceived' });
    expect(writeBatches(writer, [batch([parsed(e), parsed(received)])])[0]).to.deep.equal({ accepted: 2, duplicates: 0, quarantined: 0, conflicts: 0 });
    expect(writeBatches(writer, [batch([parsed(e), parsed(e)])])[0]).to.deep.equal({ accepted: 0, duplicates: 2, quarantined: 0, conflicts: 0 });
    expect(writeBatches(writer, [batch([parsed(e)], 'staging')])[0]).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 0, conflicts: 0 });
    expect(store.db.prepare('SELECT count(*) AS n FROM events').get()).to.deep.equal({ n: 3 });
  });

  it('stores v1beta1 and v1 of the same request as one record: the second is a plain duplicate', () => {
    const v1 = makeEvent();
    const beta = { ...v1, apiVersion: 'audit.k8s.io/v1beta1', metadata: { creationTimestamp: v1.stageTimestamp }, timestamp: '2026-07-23T14:47:51Z' };
    expect(writeBatches(writer, [batch([parsed(beta)])])[0]!.accepted).to.equal(1);
    expect(writeBatches(writer, [batch([parsed(v1)])])[0]).to.deep.equal({ accepted: 0, duplicates: 1, quarantined: 0, conflicts: 0 });
    expect([...readAllEvents(store.db)].map((s) => s.event)).to.deep.equal([v1]);
  });

  it('keeps a duplicate whose content differs in the quarantine, without storing it', () => {
    const e = makeEvent();
    const other = { ...e, verb: 'delete', user: { username: 'mallory' } };
    writeBatches(writer, [batch([parsed(e)])]);
    expect(writeBatches(writer, [batch([parsed(other, 'f.log:9')])])[0]).to.deep.equal({ accepted: 0, duplicates: 1, quarantined: 0, conflicts: 1 });
    const q = store.db.prepare('SELECT position, reason, raw FROM quarantine').all() as { position: string; reason: string; raw: Buffer }[];
    expect(q).to.have.length(1);
    expect(q[0]!.position).to.equal('f.log:9');
    expect(q[0]!.reason).to.equal(`conflicting duplicate: auditID ${e.auditID} stage ResponseComplete is already stored with different content; this copy was not stored`);
    expect(JSON.parse(q[0]!.raw.toString()).user.username).to.equal('mallory');
    expect([...readAllEvents(store.db)].map((s) => s.event.user.username)).to.deep.equal(['alice']);
  });

  it('shows each action once, from its most complete stage', () => {
    const complete = makeEvent({ stage: 'ResponseComplete', verb: 'watch' });
    const started = makeEvent({ auditID: complete.auditID, stage: 'ResponseStarted', verb: 'watch', responseStatus: { metadata: {}, code: 200 } });
    const received = makeEvent({ auditID: complete.auditID, stage: 'RequestReceived', verb: 'watch' });
    const onlyReceived = makeEvent({ stage: 'RequestReceived' });
    writeBatches(writer, [batch([received, started].map((e) => parsed(e)))]);
    writeBatches(writer, [batch([complete, onlyReceived].map((e) => parsed(e)))]);
    const actions = [...queryActions(store.db, {})].map((s) => [s.event.auditID, s.event.stage]);
    expect(actions).to.have.deep.members([
      [complete.auditID, 'ResponseComplete'],
      [onlyReceived.auditID, 'RequestReceived'],
    ]);
  });

  it('stores nothing of a failed transaction, and the same batch whole when it is sent again', () => {
    const e = makeEvent({ user: { username: 'carol' }, userAgent: 'brand-new-agent/1.0' });
    store.db.exec("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    expect(() => writeBatches(writer, [batch([parsed(e), parsed(makeEvent())])])).to.throw('disk full');
    store.db.exec('DROP TRIGGER refuse');
    expect(store.db.prepare('SELECT count(*) AS n FROM events').get()).to.deep.equal({ n: 0 });
    writeBatches(writer, [batch([parsed(e)])]);
    const back = [...queryActions(store.db, { user: 'carol' })];
    expect(back.map((s) => s.event.userAgent)).to.deep.equal(['brand-new-agent/1.0']);
  });

  it('keeps quarantined input up to the cap with its full size', () => {
    store.close();
    store = openStore(store.path, { clock: systemClock });
    const small = new EventWriter(store, 10, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
    const result = writeBatches(small, [{ cluster: 'prod', source: 'webhook', events: [], rejected: [{ position: 'item 3', reason: 'stage: missing', raw: 'x'.repeat(25) }] }]);
    expect(result[0]!.quarantined).to.equal(1);
    const row = store.db.prepare('SELECT source, cluster, position, reason, raw, raw_size FROM quarantine').get() as Record<string, unknown>;
    expect(row).to.deep.include({ source: 'webhook', cluster: 'prod', position: 'item 3', reason: 'stage: missing', raw_size: 25 });
    expect((row.raw as Buffer).toString()).to.equal('x'.repeat(10));
  });

  it('filters actions by user, verb, resource, namespace, name, decision and time', () => {
    const mk = (o: Partial<AuditEvent>) => parsed(makeEvent(o));
    const events = [
      mk({ verb: 'delete', requestReceivedTimestamp: '2026-07-23T10:00:00.000000Z', stageTimestamp: '2026-07-23T10:00:00.000000Z' }),
      mk({ user: { username: 'bob' }, requestReceivedTimestamp: '2026-07-23T11:00:00.000000Z', stageTimestamp: '2026-07-23T11:00:00.000000Z' }),
      mk({ objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'team-b', name: 'api' }, requestURI: '/apis/apps/v1/namespaces/team-b/deployments/api' }),
      mk({ objectRef: { resource: 'pods', subresource: 'exec', apiVersion: 'v1', namespace: 'team-a', name: 'web-1' }, verb: 'create', requestURI: '/api/v1/namespaces/team-a/pods/web-1/exec?command=sh' }),
      mk({ annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' }, responseStatus: { metadata: {}, code: 403 } }),
    ];
    writeBatches(writer, [batch(events)]);
    const ids = (f: Parameters<typeof queryActions>[1]) => [...queryActions(store.db, f)].map((s) => events.findIndex((p) => p.event.auditID === s.event.auditID)).sort();
    expect(ids({ user: 'bob' })).to.deep.equal([1]);
    expect(ids({ verb: 'delete' })).to.deep.equal([0]);
    expect(ids({ resource: 'deployments', apiGroup: 'apps' })).to.deep.equal([2]);
    expect(ids({ resource: 'pods' })).to.deep.equal([0, 1, 3, 4]);
    expect(ids({ resource: 'pods', subresource: 'exec' })).to.deep.equal([3]);
    expect(ids({ resource: 'pods', subresource: '' })).to.deep.equal([0, 1, 4]);
    expect(ids({ namespace: 'team-b' })).to.deep.equal([2]);
    expect(ids({ namespace: 'team-a', name: 'web-1', resource: 'pods' })).to.deep.equal([0, 1, 3, 4]);
    expect(ids({ decision: 'forbid' })).to.deep.equal([4]);
    expect(ids({ since: Date.parse('2026-07-23T10:30:00Z') * 1000, until: Date.parse('2026-07-23T12:00:00Z') * 1000 })).to.deep.equal([1]);
    const newestFirst = [...queryActions(store.db, { limit: 2 })].map((s) => s.event.requestReceivedTimestamp);
    expect(newestFirst).to.deep.equal(['2026-07-23T14:47:51.123456Z', '2026-07-23T14:47:51.123456Z']);
    expect([...queryActions(store.db, { limit: 1, order: 'asc' })][0]!.event.requestReceivedTimestamp).to.equal('2026-07-23T10:00:00.000000Z');
  });
});

describe('store round trip over the shared corpus', function () {
  const dir = tempDir();

  it('stores every corpus event and gives each back field for field (Falco and raw cloud-sample events)', function () {
    const corpus = corpusDir(this);
    if (!corpus) return;
    const files = [
      ...readdirSync(join(corpus, 'audit', 'falco')).filter((f) => f.endsWith('.json')).map((f) => join(corpus, 'audit', 'falco', f)),
      join(corpus, 'audit', 'cloud', 'mixed-raw-gke-aks.jsonl'),
    ];
    let compared = 0;
    for (const [i, file] of files.entries()) {
      // Each file in its own store: some Falco captures were edited from one another and share auditIDs.
      const store = openStore(join(dir, `corpus-${i}.db`), { clock: systemClock });
      const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
      const lines = readFileSync(file, 'utf8').split('\n');
      const events: ParsedEvent[] = [];
      lines.forEach((text, n) => events.push(...parseLine({ text, number: n + 1, end: 0 }, file).events));
      writeBatches(writer, [batch(events)]);
      const firstOfKey = new Map<string, ParsedEvent>();
      for (const p of events) {
        const key = `${p.receivedAt}/${p.event.auditID}/${p.event.stage}`;
        if (!firstOfKey.has(key)) firstOfKey.set(key, p);
      }
      const back = [...readAllEvents(store.db)].map((s) => s.event);
      expect(back, file).to.deep.equal([...firstOfKey.values()].map((p) => expectedBack(p, store)));
      compared += back.length;
      store.close();
    }
    expect(compared).to.be.greaterThan(50);
  });
});
