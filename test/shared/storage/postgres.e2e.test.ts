import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { PgBatchStore } from '../../../shared/storage/postgres/pgBatchStore.js';
import { pgQueryStore } from '../../../shared/storage/postgres/pgQueryStore.js';
import { PG_MIGRATIONS_DIR, openPgStore } from '../../../shared/storage/postgres/pgStore.js';
import { restorePgDay, runPgRetention, verifyPgArchive } from '../../../shared/storage/postgres/pgRetention.js';
import { verifyPgChain } from '../../../shared/storage/postgres/pgVerify.js';
import { PgPipelineWatch } from '../../../shared/storage/postgres/pgPipelineWatch.js';
import { createLogger } from '../../../shared/log.js';
import { parseDay } from '../../../shared/storage/sqlite/archive/retention.js';
import { collect } from '../../../shared/rows.js';
import type { StoredEvent } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { readMigrations } from '../../../shared/storage/sqlite/migrate.js';
import { CLI, TEST_REDACTION_KEY, cliEnv, waitFor, freshPgDatabase, makeEvent, parsedEvent, postgresUrl, runCli, tempDir, testPipeline } from '../../helpers.js';

const clock = fixedClock(Date.parse('2026-07-23T12:00:00Z'));
const KEY_HEX = TEST_REDACTION_KEY.toString('hex');

/** `n` events, the i-th with auditID number `from + i`, a second apart. */
function events(from: number, n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const t = new Date(Date.parse('2026-07-23T10:00:00Z') + k * 1000).toISOString().replace('.000Z', '.000001Z');
    return makeEvent({ auditID: `00000000-0000-4000-8000-${k.toString(16).padStart(12, '0')}`, requestReceivedTimestamp: t, stageTimestamp: t });
  });
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

describe('the PostgreSQL store (a real server)', () => {
  let server: string;
  before(function () {
    server = postgresUrl(this)!;
  });

  /** A writer of a new database, closed and dropped after `run`. */
  async function withWriter(run: (writer: PgBatchStore, url: string) => Promise<void>): Promise<void> {
    const db = await freshPgDatabase(server);
    const writer = await PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
    try {
      await run(writer, db.url);
    } finally {
      await writer.close();
      await db.drop();
    }
  }

  const pipeline = testPipeline({ detector: null });
  const batchOf = (evs: AuditEvent[], rejected: { position: string; reason: string; raw: string }[] = []) =>
    pipeline.prepare({ cluster: 'prod', source: 'test', events: evs.map(parsedEvent), rejected });

  it('stores each event once, whoever sends it again, and keeps a copy with other content in the quarantine', async () => {
    await withWriter(async (writer, url) => {
      const evs = events(0, 3);
      expect(await writer.write([batchOf(evs)])).to.deep.equal([{ accepted: 3, duplicates: 0, quarantined: 0, conflicts: 0 }]);
      // Again, and twice within one batch.
      expect(await writer.write([batchOf([...evs, evs[0]!])])).to.deep.equal([{ accepted: 0, duplicates: 4, quarantined: 0, conflicts: 0 }]);
      const changed = { ...evs[1]!, verb: 'delete' } as AuditEvent;
      expect(await writer.write([batchOf([changed])])).to.deep.equal([{ accepted: 0, duplicates: 1, quarantined: 0, conflicts: 1 }]);
      const [counts] = await query<{ events: string; keys: string; quarantined: string }>(
        url,
        'SELECT (SELECT count(*) FROM events) AS events, (SELECT count(DISTINCT (received_at, cluster_id, audit_id, stage)) FROM events) AS keys, (SELECT count(*) FROM quarantine) AS quarantined',
      );
      expect(counts).to.deep.equal({ events: '3', keys: '3', quarantined: '1' });
      const [q] = await query<{ reason: string }>(url, 'SELECT reason FROM quarantine');
      expect(q!.reason).to.include(`conflicting duplicate: auditID ${evs[1]!.auditID}`);
    });
  });

  it('keeps rejected input redacted, and a request body as the SQLite store does', async () => {
    await withWriter(async (writer, url) => {
      const secret = makeEvent({
        level: 'RequestResponse',
        verb: 'create',
        requestURI: '/api/v1/namespaces/team-a/secrets',
        objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' },
        requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, data: { password: Buffer.from('hunter2-in-body').toString('base64') } },
      });
      const raw = JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', requestObject: { kind: 'Secret', data: { password: 'hunter2-in-quarantine' } } });
      const [r] = await writer.write([batchOf([secret], [{ position: 'test:1', reason: 'auditID: missing', raw }])]);
      expect(r).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 1, conflicts: 0 });
      const [q] = await query<{ raw: Buffer; raw_size: string; reason: string }>(url, 'SELECT raw, raw_size, reason FROM quarantine');
      expect(q!.reason).to.equal('auditID: missing');
      expect(Number(q!.raw_size)).to.equal(Buffer.byteLength(raw));
      expect(q!.raw.toString('utf8')).to.not.include('hunter2');
      const [b] = await query<{ n: string; request: Buffer | null }>(url, 'SELECT count(*) OVER () AS n, request FROM bodies');
      expect(b!.n).to.equal('1');
      expect(b!.request).to.not.equal(null);
      expect(b!.request!.toString('latin1')).to.not.include('hunter2');
    });
  });

  it('quarantines alone an event with U+0000 in a text field, which PostgreSQL cannot store, and stores the rest of its batch', async () => {
    await withWriter(async (writer, url) => {
      const [good1, good2] = events(100, 2);
      const agent = makeEvent({ userAgent: 'evil\u0000agent' });
      const named = makeEvent({ objectRef: { resource: 'pods', namespace: 'team-a', name: 'web\u0000x', apiVersion: 'v1' } });
      const user = makeEvent({ user: { username: 'mallory\u0000', groups: [] } });
      expect(await writer.write([batchOf([good1!, agent, named, user, good2!])])).to.deep.equal([{ accepted: 2, duplicates: 0, quarantined: 3, conflicts: 0 }]);
      const stored = await query<{ audit_id: string }>(url, 'SELECT audit_id FROM events ORDER BY audit_id');
      expect(stored.map((r) => r.audit_id)).to.deep.equal([good1!.auditID, good2!.auditID]);
      const q = await query<{ reason: string; raw: Buffer }>(url, 'SELECT reason, raw FROM quarantine ORDER BY id');
      expect(q.map((r) => r.reason)).to.deep.equal(Array(3).fill('a field holds the character U+0000, which PostgreSQL cannot store as text: this event was not stored'));
      expect(q.map((r) => (JSON.parse(r.raw.toString('utf8')) as { auditID: string }).auditID)).to.deep.equal([agent.auditID, named.auditID, user.auditID]);
      // A cluster named with U+0000 (a Kafka header is anyone's who can produce): its batch is
      // quarantined, named with U+FFFD, and the writer goes on.
      const [other] = events(200, 1);
      const odd = pipeline.prepare({ cluster: 'prod\u0000x', source: 'kafka', events: [parsedEvent(other!)], rejected: [{ position: 'p\u00000', reason: 'not JSON', raw: '{' }] });
      expect(await writer.write([odd])).to.deep.equal([{ accepted: 0, duplicates: 0, quarantined: 2, conflicts: 0 }]);
      expect((await query<{ cluster: string }>(url, "SELECT cluster FROM quarantine WHERE source = 'kafka'")).map((r) => r.cluster)).to.deep.equal(['prod\uFFFDx', 'prod\uFFFDx']);
      expect(await writer.write([batchOf(events(300, 1))])).to.deep.equal([{ accepted: 1, duplicates: 0, quarantined: 0, conflicts: 0 }]);
    });
  });

  it('shows each cluster\'s ingest, its first stored time and the quarantine, as the status API reads them', async () => {
    await withWriter(async (writer, url) => {
      const evs = events(0, 5);
      await writer.write([batchOf(evs, [{ position: 'line 9', reason: 'not JSON', raw: '{"token":"abc' }])]);
      const store = await openPgStore(url, { clock });
      try {
        const status = pgQueryStore(store).status;
        const now = Date.parse('2026-07-23T10:05:00Z') * 1000;
        expect(await status.clusters(now)).to.deep.equal([{ cluster: 'prod', lastEventTime: evs[4]!.requestReceivedTimestamp, eventsPerSecond: Math.round((5 / 300) * 100) / 100, quarantined: { test: 1 } }]);
        expect(await status.oldest()).to.deep.equal([{ cluster: 'prod', first: Date.parse('2026-07-23T10:00:00Z') * 1000 + 1 }]);
        const q = await collect(status.quarantine({}));
        expect(q.map((r) => [r.cluster, r.position, r.reason])).to.deep.equal([['prod', 'line 9', 'not JSON']]);
        expect(q[0]!.raw).to.not.include('abc');
      } finally {
        await store.close();
      }
    });
  });

  it('gives each day near today a partition, and a time years off the default one', async () => {
    await withWriter(async (writer, url) => {
      const at = (iso: string) => makeEvent({ requestReceivedTimestamp: iso, stageTimestamp: iso });
      await writer.write([batchOf([at('2026-07-23T01:00:00.000001Z'), at('2026-07-24T01:00:00.000001Z'), at('1999-01-01T00:00:00.000001Z'), at('2100-01-01T00:00:00.000001Z')])]);
      const rows = await query<{ part: string; n: string }>(url, 'SELECT tableoid::regclass::text AS part, count(*) AS n FROM events GROUP BY 1 ORDER BY 1');
      expect(rows).to.deep.equal([
        { part: 'events_d20260723', n: '1' },
        { part: 'events_d20260724', n: '1' },
        { part: 'events_default', n: '2' },
      ]);
    });
  });

  it('migrates a new database once when two kubetrails open it at once', async () => {
    const db = await freshPgDatabase(server);
    try {
      const stores = await Promise.all([openPgStore(db.url, { clock }), openPgStore(db.url, { clock })]);
      await Promise.all(stores.map((s) => s.close()));
      const rows = await query<{ version: number }>(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).to.deep.equal(readMigrations(PG_MIGRATIONS_DIR).map((m) => m.version));
    } finally {
      await db.drop();
    }
  });

  it('two kubetrail ingest processes writing overlapping files at once store every event once', async () => {
    const db = await freshPgDatabase(server);
    try {
      const dir = tempDir();
      const a = join(dir, 'a.jsonl');
      const b = join(dir, 'b.jsonl');
      writeFileSync(a, events(0, 3000).map((e) => JSON.stringify(e)).join('\n') + '\n');
      writeFileSync(b, events(2000, 3000).map((e) => JSON.stringify(e)).join('\n') + '\n');
      // One is given the database by --db, the other by KUBETRAIL_DATABASE_URL; they share the redaction key.
      const env = cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX });
      const [ra, rb] = await Promise.all([
        runCli(['ingest', a, '--db', db.url, '--output', 'json'], env),
        runCli(['ingest', b, '--output', 'json'], { ...env, KUBETRAIL_DATABASE_URL: db.url }),
      ]);
      expect(ra.status, ra.stderr).to.equal(0);
      expect(rb.status, rb.stderr).to.equal(0);
      const sa = JSON.parse(ra.stdout) as { stored: number; duplicates: number };
      const sb = JSON.parse(rb.stdout) as { stored: number; duplicates: number };
      expect(sa.stored + sb.stored).to.equal(5000);
      expect(sa.duplicates + sb.duplicates).to.equal(1000);
      const [counts] = await query<{ events: string; keys: string }>(db.url, 'SELECT count(*) AS events, count(DISTINCT audit_id) AS keys FROM events');
      expect(counts).to.deep.equal({ events: '5000', keys: '5000' });
    } finally {
      await db.drop();
    }
  });

  it('answers events and history as the SQLite store does, for the same input', async () => {
    const db = await freshPgDatabase(server);
    try {
      const dir = tempDir();
      const file = join(dir, 'mixed.jsonl');
      const secretRead = (i: number) => makeEvent({ verb: 'get', requestURI: '/api/v1/namespaces/team-a/secrets/db', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, user: { username: `user-${i % 3}@example.com`, groups: ['system:authenticated'] } });
      const impersonating = makeEvent({ user: { username: 'admin', groups: ['system:masters'] }, impersonatedUser: { username: 'alice', groups: ['dev'] } });
      const stages = events(9000, 1).flatMap((e) => [{ ...e, stage: 'RequestReceived', annotations: undefined }, e]);
      writeFileSync(file, [...events(0, 200), ...Array.from({ length: 5 }, (_, i) => secretRead(i)), impersonating, ...stages].map((e) => JSON.stringify(e)).join('\n') + '\n');
      const env = cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX });
      const sqlite = join(dir, 'k.db');
      for (const target of [db.url, sqlite]) expect((await runCli(['ingest', file, '--db', target], env)).status).to.equal(0);
      const shown: [string, string, number, number][] = [];
      for (const args of [['events', '--limit', '0'], ['events', '--user', 'alice'], ['events', '--resource', 'secrets', '--user', 'user-1@example.com'], ['history', 'secrets/db', '-n', 'team-a'], ['events', '--verb', 'get', '--limit', '7']]) {
        const [fromPg, fromSqlite] = (await Promise.all([db.url, sqlite].map((target) => runCli([...args, '--db', target, '--output', 'ndjson'], env)))) as [Awaited<ReturnType<typeof runCli>>, Awaited<ReturnType<typeof runCli>>];
        expect(fromPg.status, fromPg.stderr).to.equal(0);
        expect(fromPg.stdout.length, args.join(' ')).to.be.greaterThan(0);
        expect(fromPg.stdout, args.join(' ')).to.equal(fromSqlite.stdout);
        shown.push(['cli', args[0]!, fromSqlite.stdout.split('\n').filter(Boolean).length, 0]);
      }
      // Each query of the PostgreSQL store is in its own self-audit (PCI DSS 10.2.1.3), with the rows it gave.
      const pg = await openPgStore(db.url, { clock });
      try {
        const trail = (await collect(pgQueryStore(pg).selfAudit.list({ order: 'asc' }))).map((t) => [t.channel, t.action, t.rows, t.status]);
        expect(trail).to.deep.equal(shown);
        expect(shown.map((x) => x[2])).to.deep.equal([207, 202, 2, 5, 7]);
      } finally {
        await pg.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('raises the alerts the SQLite store raises, one per alert key however many writers see its findings at once', async () => {
    const db = await freshPgDatabase(server);
    try {
      const dir = tempDir();
      // kubernetes-admin (system:masters, a break-glass account) in both files, overlapping; alice's
      // use of it within a checkout; anonymous requests.
      const admin = (from: number, n: number, username = 'kubernetes-admin') =>
        events(from, n).map((e) => ({ ...e, user: { username, groups: ['system:masters', 'system:authenticated'] } }));
      const anonymous = events(5000, 30).map((e) => ({ ...e, user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, requestURI: '/api/v1/secrets', objectRef: { resource: 'secrets', apiVersion: 'v1' } }));
      const a = join(dir, 'a.jsonl');
      const b = join(dir, 'b.jsonl');
      writeFileSync(a, [...admin(0, 600), ...anonymous.slice(0, 20)].map((e) => JSON.stringify(e)).join('\n') + '\n');
      writeFileSync(b, [...admin(400, 600), ...anonymous.slice(10), ...admin(3000, 5, 'break-glass-2')].map((e) => JSON.stringify(e)).join('\n') + '\n');
      const env = cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX });
      const sqlite = join(dir, 'k.db');
      // A checkout of kubernetes-admin for alice over the requests 100–199.
      const checkout = ['breakglass', 'checkout', '--account', 'kubernetes-admin', '--person', 'alice', '--approved-by', 'bob', '--reason', 'incident', '--ticket', 'INC-1', '--from', '2026-07-23T10:01:40Z', '--until', '2026-07-23T10:03:20Z'];
      for (const target of [db.url, sqlite]) expect((await runCli([...checkout, '--db', target], env)).status).to.equal(0);
      // Two processes at once into PostgreSQL; one after the other into SQLite.
      const both = await Promise.all([runCli(['ingest', a, '--db', db.url], env), runCli(['ingest', b, '--db', db.url], env)]);
      for (const r of both) expect(r.status, r.stderr).to.equal(0);
      for (const f of [a, b]) expect((await runCli(['ingest', f, '--db', sqlite], env)).status).to.equal(0);
      const shown = await Promise.all([db.url, sqlite].map(async (target) => {
        const r = await runCli(['alerts', '--db', target, '--output', 'json', '--limit', '0'], env);
        expect(r.status, r.stderr).to.equal(0);
        // Ids follow which writer came first; the rest must agree.
        return (JSON.parse(r.stdout) as { id: number; rule: string; count: number; person: string | null }[]).map(({ id: _id, ...rest }) => rest).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
      }));
      expect(shown[0]).to.deep.equal(shown[1]);
      const byRule = (rule: string) => shown[0]!.filter((x) => x.rule === rule);
      // 1000 distinct requests by system:masters: one alert, each request counted once.
      expect(byRule('system-masters-use').map((x) => x.count).reduce((n, c) => n + c, 0)).to.equal(1005);
      expect(byRule('attributed-break-glass').map((x) => [x.person, x.count])).to.deep.equal([['alice', 100]]);
      // Outside it: kubernetes-admin's other 900, and break-glass-2's 5 (system:masters is a break-glass group).
      expect(byRule('unattributed-break-glass').map((x) => x.count).reduce((n, c) => n + c, 0)).to.equal(905);
      const [counted] = await query<{ alerts: string; events: string }>(db.url, "SELECT count(*) AS alerts, sum(count) AS events FROM alerts WHERE rule = 'system-masters-use'");
      expect(counted).to.deep.equal({ alerts: String(byRule('system-masters-use').length), events: '1005' });
      // --finding reads the alerts' requests.
      const found = await runCli(['events', '--finding', 'attributed-break-glass', '--limit', '0', '--db', db.url, '--output', 'ndjson'], env);
      expect(found.status, found.stderr).to.equal(0);
      expect(found.stdout.trim().split('\n')).to.have.length(100);
    } finally {
      await db.drop();
    }
  });

  it('two writers recording findings of one alert key at the same moment raise one alert, each request counted once', async () => {
    const db = await freshPgDatabase(server);
    const withDetector = testPipeline({});
    const open = async () => PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
    const writers = [await open(), await open()];
    try {
      const masters = (from: number, n: number) =>
        events(from, n).map((e) => parsedEvent({ ...e, user: { username: 'kubernetes-admin', groups: ['system:masters'] } }));
      // Rounds of two transactions at once, of different requests (overlapping ones would wait
      // for each other on the events' key anyway), by the same account.
      for (let round = 0; round < 15; round++) {
        await Promise.all(writers.map((w, k) => w.write([withDetector.prepare({ cluster: 'prod', source: 'test', events: masters(round * 200 + k * 100, 100), rejected: [] })])));
      }
      const alerts = await query<{ rule: string; alerts: string; counted: string; kept: string }>(
        db.url,
        'SELECT rule, count(*) AS alerts, sum(count) AS counted, sum((SELECT count(*) FROM alert_events e WHERE e.alert_id = a.id)) AS kept FROM alerts a GROUP BY rule ORDER BY rule',
      );
      // 3,000 requests; an alert keeps its first 1,000 auditIDs and counts on.
      expect(alerts.find((a) => a.rule === 'system-masters-use')).to.deep.equal({ rule: 'system-masters-use', alerts: '1', counted: '3000', kept: '1000' });
      expect(alerts.find((a) => a.rule === 'unattributed-break-glass')).to.deep.equal({ rule: 'unattributed-break-glass', alerts: '1', counted: '3000', kept: '1000' });
    } finally {
      for (const w of writers) await w.close();
      await db.drop();
    }
  });

  it('keeps a hash chain per writer, and verify names an event changed, deleted or inserted, a user altered and a link rewritten', async () => {
    const db = await freshPgDatabase(server);
    const withDetector = testPipeline({});
    const open = async () => PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
    const writers = [await open(), await open()];
    const env = cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX });
    const verify = async () => {
      const r = await runCli(['verify', '--db', db.url, '--output', 'json'], env);
      return { status: r.status, report: JSON.parse(r.stdout) as { ok: boolean; links: number; rows: number; streams: { seq: number }[]; problems: { kind: string; eventId?: number }[] } };
    };
    try {
      // Two writers at once, each with bodies and findings, some requests sent to both.
      const body = (e: AuditEvent): AuditEvent => ({ ...e, level: 'RequestResponse', requestObject: { kind: 'ConfigMap', data: { a: '1' } } } as AuditEvent);
      for (let round = 0; round < 5; round++) {
        await Promise.all(writers.map((w, k) => w.write([withDetector.prepare({ cluster: 'prod', source: 'test', events: events(round * 100 + k * 50, 100).map((e) => parsedEvent(body(e))), rejected: [] })])));
      }
      const good = await verify();
      expect(good.status).to.equal(0);
      expect(good.report).to.include({ ok: true, rows: 550 });
      // A stream per writer, a link per transaction that stored anything (the other writer may have stored all of one first).
      expect(good.report.streams).to.have.length(2);
      expect(good.report.links).to.equal(good.report.streams.reduce((n, x) => n + x.seq, 0)).and.be.within(6, 10);
      const id = Number((await query<{ id: string }>(db.url, 'SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 200'))[0]!.id);
      const tampered = async (sql: string, undo: string) => {
        await query(db.url, sql);
        const r = await verify();
        await query(db.url, undo);
        expect(r.status).to.equal(1);
        return r.report.problems.map((p) => [p.kind, p.eventId ?? null]);
      };
      expect(await tampered(`UPDATE events SET code = 500 WHERE id = ${id}`, `UPDATE events SET code = 200 WHERE id = ${id}`)).to.deep.equal([['changed', id]]);
      const request = (await query<{ request: Buffer }>(db.url, `SELECT request FROM bodies WHERE event_id = ${id}`))[0]!.request;
      expect(await tampered(`UPDATE bodies SET request = NULL WHERE event_id = ${id}`, `UPDATE bodies SET request = decode('${request.toString('hex')}', 'hex') WHERE event_id = ${id}`)).to.deep.equal([['changed', id]]);
      expect(await tampered("UPDATE principals SET username = 'mallory'", "UPDATE principals SET username = 'alice'")).to.deep.include(['dimensions', null]);
      expect(await tampered('UPDATE chain_links SET committed_at = committed_at + 1 WHERE seq = 1', 'UPDATE chain_links SET committed_at = committed_at - 1 WHERE seq = 1')).to.deep.equal([['link', null], ['link', null]]);
      const inserted = await tampered(
        `INSERT INTO events (cluster_id, audit_id, stage, level, received_at, stage_delay, verb_id, user_id, decision, shape, source_version, has_body)
         SELECT cluster_id, 'forged', stage, level, received_at, stage_delay, verb_id, user_id, decision, shape, source_version, 0 FROM events WHERE id = ${id}`,
        "DELETE FROM events WHERE audit_id = 'forged'",
      );
      expect(inserted).to.have.length(1);
      expect(inserted[0]![0]).to.equal('inserted');
      // Ids have gaps (an insert that met a duplicate used one up): the next stored row.
      const next = Number((await query<{ id: string }>(db.url, `SELECT id FROM events WHERE id > ${id} ORDER BY id LIMIT 1`))[0]!.id);
      expect(await tampered(`DELETE FROM events WHERE id = ${next}`, 'SELECT 1')).to.deep.equal([['deleted', next]]);
    } finally {
      for (const w of writers) await w.close();
      await db.drop();
    }
  });

  it('archives the days past the hot window with COPY, drops their partitions, and restores a day as it was', async () => {
    const db = await freshPgDatabase(server);
    const dir = tempDir();
    const pgStore = await openPgStore(db.url, { clock });
    // As serve and ingest open it: days past retention.hotDays get no partition of their own.
    const writer = await PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY, pastDays: 1 });
    const at = (day: string, n: number, from: number) =>
      events(from, n).map((e) => ({ ...e, requestReceivedTimestamp: `${day}T08:00:00.000001Z`, stageTimestamp: `${day}T08:00:00.000002Z`, level: 'Request', requestObject: { kind: 'ConfigMap', data: { k: String(from) } } }) as AuditEvent);
    const write = (evs: AuditEvent[]) => writer.write([batchOf(evs.map((e) => e))]);
    const partitions = async () => (await query<{ name: string }>(db.url, "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY 1")).map((r) => r.name);
    const count = async () => Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM events'))[0]!.n);
    const now = Date.parse('2026-07-23T12:00:00Z') * 1000;
    try {
      await write([...at('2026-07-20', 30, 0), ...at('2026-07-22', 20, 100), ...at('2026-07-23', 10, 200), ...at('2025-01-01', 5, 300)]);
      // 07-20 is past the hot window (1 day): the default partition, with 2025-01-01's.
      expect(await partitions()).to.deep.equal(['events_d20260722', 'events_d20260723', 'events_default']);
      // A day with a partition of its own from before (a wider hot window then).
      await query(db.url, "CREATE TABLE events_d20260721 PARTITION OF events FOR VALUES FROM (1784592000000000) TO (1784678400000000)");
      await write(at('2026-07-21', 40, 400));
      const run = await runPgRetention(pgStore.pool, { hotDays: 1, dir }, now);
      expect(run!.archived.map((a) => [a.day, a.rows])).to.deep.equal([['2025-01-01', 5], ['2026-07-20', 30], ['2026-07-21', 40]]);
      expect(await partitions()).to.not.include('events_d20260721');
      expect(await count()).to.equal(30);
      // verify counts the archived days' rows as archived, not deleted.
      const verified = await verifyPgChain(pgStore.pool);
      expect(verified).to.include({ ok: true, rows: 30, archivedRows: 75 });
      for (const day of ['2025-01-01', '2026-07-20', '2026-07-21']) expect((await verifyPgArchive(pgStore.pool, parseDay(day), dir)).ok, day).to.equal(true);
      // A late event of an archived day: a further part of its archive at the next run.
      await write(at('2026-07-21', 3, 500));
      const again = await runPgRetention(pgStore.pool, { hotDays: 1, dir }, now);
      expect(again!.archived.map((a) => [a.day, a.rows, a.file])).to.deep.equal([['2026-07-21', 3, '2026-07-21.2.copy.gz']]);
      // An archive altered on disk is refused, and restored once it is back.
      const file = join(dir, '2026-07-21.copy.gz');
      const original = readFileSync(file);
      writeFileSync(file, Buffer.concat([original, Buffer.from([0])]));
      expect((await verifyPgArchive(pgStore.pool, parseDay('2026-07-21'), dir)).problems.join()).to.include('the file was altered');
      let refused: unknown;
      await restorePgDay(pgStore.pool, parseDay('2026-07-21'), dir, now).catch((e: unknown) => (refused = e));
      expect(String(refused)).to.include('fails its check');
      writeFileSync(file, original);
      const restored = await restorePgDay(pgStore.pool, parseDay('2026-07-21'), dir, now);
      expect(restored).to.deep.equal({ day: '2026-07-21', rows: 43 });
      expect(await partitions()).to.include('events_d20260721');
      expect(await count()).to.equal(73);
      expect(await verifyPgChain(pgStore.pool)).to.include({ ok: true, rows: 73, archivedRows: 35 });
      // Row for row: the bodies came back with the rows.
      const shown = await collect(pgQueryStore(pgStore).events.actions({ since: Date.parse('2026-07-21T00:00:00Z') * 1000, until: Date.parse('2026-07-22T00:00:00Z') * 1000, limit: 0 }));
      expect(shown).to.have.length(43);
      const one = await pgQueryStore(pgStore).events.action('prod', shown[0]!.event.auditID, { bodies: true });
      expect(one[0]!.event.requestObject).to.have.property('kind', 'ConfigMap');
    } finally {
      await writer.close();
      await pgStore.close();
      await db.drop();
    }
  });

  it('watches the pipeline of every writer from one kubetrail: one gap and one alert when a stream goes silent, closed when it comes back', async () => {
    const db = await freshPgDatabase(server);
    let nowMs = Date.parse('2026-07-23T12:00:00Z');
    const moving = () => nowMs;
    const open = async () => PgBatchStore.open(await openPgStore(db.url, { clock: moving }), { clock: moving, redactionKey: TEST_REDACTION_KEY });
    const writers = [await open(), await open()];
    const stores = [await openPgStore(db.url, { clock: moving }), await openPgStore(db.url, { clock: moving })];
    const log = createLogger('silent');
    const watches = stores.map((s) => new PgPipelineWatch(s.pool, { windowMs: 60_000, collapseRatio: 0.1 }, moving, log));
    const tickAll = async () => {
      for (const w of watches) await w.tick();
    };
    try {
      // Five minutes of traffic, each writer a share of it every half minute, both watches ticking.
      let n = 0;
      for (let half = 0; half < 10; half++) {
        for (const w of writers) await w.write([pipeline.prepare({ cluster: 'prod', source: 'kafka', events: events(n, 15).map(parsedEvent), rejected: [] })]), (n += 15);
        nowMs += 30_000;
        await tickAll();
      }
      expect(watches.filter((w) => w.leading)).to.have.length(1);
      // Silence for two windows: one gap, one critical alert, whoever watched.
      nowMs += 120_000;
      await tickAll();
      const status = pgQueryStore(stores[0]!).status;
      const gaps = await status.gaps({}, nowMs * 1000);
      expect(gaps.map((g) => [g.cluster, g.source, g.kind, g.endedAt])).to.deep.equal([['prod', 'kafka', 'silence', null]]);
      const alerts = await collect(pgQueryStore(stores[0]!).alerts.list({ rule: 'audit-pipeline-gap' }));
      expect(alerts.map((a) => [a.severity, a.id])).to.deep.equal([['critical', gaps[0]!.alertId]]);
      // The watching kubetrail stops; the other takes over from what it kept, and closes the gap.
      await watches.find((w) => w.leading)!.stop();
      await writers[1]!.write([pipeline.prepare({ cluster: 'prod', source: 'kafka', events: events(n, 15).map(parsedEvent), rejected: [] })]);
      nowMs += 1000;
      await tickAll();
      const after = await status.gaps({}, nowMs * 1000);
      expect(after).to.have.length(1);
      expect(after[0]!.endedAt).to.not.equal(null);
      const acked = await status.acknowledgeGap(after[0]!.id, { cause: 'broker restart', remediation: 'none needed', by: 'ops' }, nowMs * 1000);
      expect(acked.ackedBy).to.equal('ops');
      expect((await pgQueryStore(stores[0]!).alerts.get([after[0]!.alertId!]))[0]!.status).to.equal('acknowledged');
    } finally {
      for (const w of watches) await w.stop();
      for (const w of writers) await w.close();
      for (const s of stores) await s.close();
      await db.drop();
    }
  });

  it('archives a row a writer commits while the day is being archived, instead of dropping it with the partition', async () => {
    const db = await freshPgDatabase(server);
    const dir = tempDir();
    const store = await openPgStore(db.url, { clock });
    const writer = await PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
    const late = new pg.Client({ connectionString: db.url });
    await late.connect();
    try {
      await writer.write([batchOf(events(0, 10))]);
      // A writer's transaction puts one more event of that day into its partition, and has not committed.
      await late.query('BEGIN');
      await late.query("INSERT INTO events (cluster_id, audit_id, stage, level, received_at, stage_delay, verb_id, user_id, decision, shape, source_version, has_body) SELECT cluster_id, 'late', stage, level, received_at, stage_delay, verb_id, user_id, decision, shape, source_version, 0 FROM events LIMIT 1");
      const archiving = runPgRetention(store.pool, { hotDays: 0, dir }, Date.parse('2026-07-25T00:00:00Z') * 1000);
      await new Promise((r) => setTimeout(r, 300));
      await late.query('COMMIT');
      const run = await archiving;
      expect(run!.archived.map((a) => a.rows)).to.deep.equal([11]);
      expect(Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM events'))[0]!.n)).to.equal(0);
    } finally {
      await late.end();
      await writer.close();
      await store.close();
      await db.drop();
    }
  });

  it('takes a busy minute of arrivals (many small batches) in one round of the pipeline watch', async () => {
    const db = await freshPgDatabase(server);
    const store = await openPgStore(db.url, { clock });
    const watch = new PgPipelineWatch(store.pool, { windowMs: 60_000, collapseRatio: 0.1 }, clock, createLogger('silent'));
    try {
      await watch.tick();
      const now = clock() * 1000;
      await query(db.url, `INSERT INTO pipeline_arrivals (at, cluster, source, events, oldest) SELECT ${now} + g, 'prod', 'webhook', 1, ${now} FROM generate_series(1, 200000) g`);
      await watch.tick();
      expect(watch.leading).to.equal(true);
      await watch.stop();
      expect(await query(db.url, 'SELECT cluster, source FROM pipeline_streams')).to.deep.equal([{ cluster: 'prod', source: 'webhook' }]);
    } finally {
      await watch.stop();
      await store.close();
      await db.drop();
    }
  });

  it('pages through actions from a position, newest first and oldest first, each action once', async () => {
    await withWriter(async (writer, url) => {
      await writer.write([batchOf(events(0, 250))]);
      const pg = await openPgStore(url, { clock });
      try {
        const store = pgQueryStore(pg);
        for (const order of ['desc', 'asc'] as const) {
          const all = (await collect(store.events.actions({ order }))).map((s) => s.event.auditID);
          expect(all).to.have.length(250);
          const paged: string[] = [];
          let after: StoredEvent['position'] | undefined;
          for (;;) {
            const page = await collect(store.events.actions({ order, limit: 100, ...(after ? { after } : {}) }));
            paged.push(...page.map((s) => s.event.auditID));
            if (page.length < 100) break;
            after = page.at(-1)!.position;
          }
          expect(paged).to.deep.equal(all);
          expect(all[0]).to.equal(order === 'desc' ? events(249, 1)[0]!.auditID : events(0, 1)[0]!.auditID);
        }
      } finally {
        await pg.close();
      }
    });
  });

  it('follows a growing log into PostgreSQL, and resumes where it stopped after kill -9', async () => {
    const db = await freshPgDatabase(server);
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    // 0 until the follower has made the tables.
    const count = async () => Number((await query<{ n: string }>(db.url, "SELECT CASE WHEN to_regclass('events') IS NULL THEN 0 ELSE (SELECT count(*) FROM events) END AS n").catch(() => [{ n: '0' }]))[0]!.n);
    const start = () => spawn(process.execPath, [CLI, 'ingest', '--follow', log, '--db', db.url, '--output', 'json'], { stdio: 'ignore', env: cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX }) });
    const kill = (c: ChildProcess) => new Promise((r) => (c.once('exit', r), c.kill('SIGKILL')));
    const append = (from: number, n: number) => appendFileSync(log, events(from, n).map((e) => JSON.stringify(e) + '\n').join(''));
    try {
      append(0, 300);
      let child = start();
      try {
        await waitFor(async () => (await count()) === 300, '300 events stored');
        append(300, 200);
        await waitFor(async () => (await count()) === 500, '500 events stored');
      } finally {
        await kill(child);
      }
      append(500, 100);
      child = start();
      try {
        await waitFor(async () => (await count()) === 600, '600 events stored');
        await new Promise((r) => setTimeout(r, 300));
        // Each line once: the restart began at the position saved with the events.
        const [keys] = await query<{ n: string; keys: string }>(db.url, 'SELECT count(*) AS n, count(DISTINCT audit_id) AS keys FROM events');
        expect(keys).to.deep.equal({ n: '600', keys: '600' });
        const [offset] = await query<{ line: string }>(db.url, 'SELECT line FROM follow_offsets');
        expect(offset!.line).to.equal('600');
      } finally {
        await kill(child);
      }
    } finally {
      await db.drop();
    }
  });

  it('refuses a URL it cannot use, saying what to do and never showing the password', async () => {
    const db = await freshPgDatabase(server);
    try {
      const wrong = await runCli(['ingest', '-', '--db', 'postgres://nobody:s3cret-pw@127.0.0.1:1/none'], cliEnv({ KUBETRAIL_REDACTION_KEY: KEY_HEX }));
      expect(wrong.status).to.not.equal(0);
      // The password is never shown.
      expect(wrong.stderr).to.include('PostgreSQL at postgres://nobody:***@127.0.0.1:1/none').and.not.include('s3cret');
    } finally {
      await db.drop();
    }
  });
});
