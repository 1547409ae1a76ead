import { systemClock } from '../../../services/cli/clock.js';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import YAML from 'yaml';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { AuditEvent, ParsedEvent } from '../../../shared/audit/types.js';
import { createLogger } from '../../../shared/log.js';
import { createMetrics } from '../../../shared/metrics.js';
import { getAlerts } from '../../../shared/storage/sqlite/queries/alertQuery.js';
import { StoreWriter } from '../../../shared/storage/sqlite/write/storeWriter.js';
import { openSqliteAlertQueue } from '../../../shared/storage/sqlite/tables/alertDeliveries.js';
import { Alerter, type AlerterSink } from '../../../services/alerter/alerter.js';
import { createSink } from '../../../services/alerter/sinks.js';
import { PgBatchStore } from '../../../shared/storage/postgres/pgBatchStore.js';
import { pgAlertQueue } from '../../../shared/storage/postgres/pgAlertQueue.js';
import { pgQueryStore } from '../../../shared/storage/postgres/pgQueryStore.js';
import { openPgStore } from '../../../shared/storage/postgres/pgStore.js';
import { EcsSchema, OcsfSchema } from '../../siemSchemas.js';
import { sharedPath, testPipeline, freshPgDatabase, kafkaBrokers, makeEvent, postgresUrl, startServe, tempDir, TEST_REDACTION_KEY, waitFor } from '../../helpers.js';

/** A real local HTTP receiver that fails its first `failFirst` requests with `failStatus`. */
async function receiver(failFirst = 0, failStatus = 503) {
  const bodies: unknown[] = [];
  let requests = 0;
  let failing = failFirst;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (failing > 0) {
        failing--;
        res.writeHead(failStatus).end('try later');
        return;
      }
      bodies.push({ path: req.url, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    requests: () => requests,
    failForever: () => (failing = Number.POSITIVE_INFINITY),
    heal: () => (failing = 0),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function parsed(e: Partial<AuditEvent>): ParsedEvent {
  const p = parseEvent(makeEvent(e), 'test');
  if (!('event' in p)) throw new Error(p.reason);
  return p;
}

/** Alert delivery (services/alerter) to real local HTTP receivers and a real Kafka broker. */
describe('alerter', function () {
  this.timeout(60_000);
  const dir = tempDir();
  const log = createLogger('silent');

  /** A store holding one high (system-masters-use) and one critical (unattributed break-glass) alert, and more. */
  async function storeWithAlerts(name: string): Promise<string> {
    const db = join(dir, `${name}.db`);
    const writer = await StoreWriter.open(db, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    await writer.write([testPipeline({ redactionKey: writer.redactionKey }).prepare(
      {
        cluster: 'prod',
        source: 'test',
        events: [parsed({ user: { username: 'root', groups: ['system:masters', 'system:authenticated'] } }), parsed({ verb: 'get', objectRef: { resource: 'secrets', namespace: 'a', name: '<!channel>&<https://evil.example|x>', apiVersion: 'v1' } })],
        rejected: [],
      }),
    ]);
    await writer.close();
    return db;
  }

  const deliveries = (db: string) => {
    const conn = new BetterSqlite3(db, { readonly: true });
    const rows = conn.prepare('SELECT alert_id, sink, state, attempts, last_error FROM alert_deliveries ORDER BY sink, alert_id').all() as { alert_id: number; sink: string; state: string; attempts: number; last_error: string | null }[];
    const alerts = getAlerts(conn, (conn.prepare('SELECT id FROM alerts ORDER BY id').pluck().all() as number[]));
    conn.close();
    return { rows, alerts };
  };

  it('delivers every alert to webhook, Slack and Alertmanager, retrying a failing receiver with backoff', async () => {
    const db = await storeWithAlerts('http');
    const webhook = await receiver(2);
    const slack = await receiver();
    const am = await receiver();
    const sinks: AlerterSink[] = [
      { name: 'hook', type: 'webhook', url: `${webhook.url}/alerts`, headers: { authorization: 'Bearer t0ken' } },
      { name: 'slack', type: 'slack', url: `${slack.url}/services/T/B/x` },
      { name: 'am', type: 'alertmanager', url: am.url, minSeverity: 'critical' },
    ];
    const metrics = createMetrics();
    const alerter = await Alerter.start(openSqliteAlertQueue(db, systemClock), { sinks, pollMs: 20, retryBaseMs: 50, retryMaxMs: 200, log, metrics, clock: systemClock });
    try {
      const { alerts } = deliveries(db);
      expect(alerts.map((a) => a.rule)).to.have.members(['system-masters-use', 'unattributed-break-glass', 'secret-read']);
      await waitFor(() => deliveries(db).rows.every((r) => r.state === 'delivered') && deliveries(db).rows.length === 3 + 3 + 1, 'every delivery done', 20_000);
      // The webhook failed twice and then took the batch: each alert delivered once, in one body.
      expect(webhook.requests()).to.equal(3);
      expect(webhook.bodies).to.have.length(1);
      const hookBody = (webhook.bodies[0] as { body: { kind: string; alerts: { id: number; rule: string; pci: string[] }[] } }).body;
      expect(hookBody.kind).to.equal('kubetrail.alerts');
      expect(hookBody.alerts.map((a) => a.id)).to.deep.equal(alerts.map((a) => a.id));
      expect(deliveries(db).rows.filter((r) => r.sink === 'hook').every((r) => r.attempts === 3)).to.equal(true);
      const text = await metrics.registry.metrics();
      expect(text).to.contain('kubetrail_alert_deliveries_total{sink="hook",outcome="failed"} 6');
      expect(text).to.contain('kubetrail_alert_deliveries_total{sink="hook",outcome="delivered"} 3');
      // Slack: one message per alert, naming rule and severity.
      const texts = slack.bodies.map((b) => (b as { body: { text: string } }).body.text);
      expect(texts).to.have.length(3);
      expect(texts.some((t) => t.includes('`system-masters-use`') && t.includes('*HIGH*'))).to.equal(true);
      // Event text cannot mention @channel or forge a link: Slack's <, > and & are escaped.
      const secretRead = texts.find((t) => t.includes('`secret-read`'))!;
      expect(secretRead).to.contain('&lt;!channel&gt;&amp;&lt;https://evil.example|x&gt;');
      expect(secretRead).to.not.match(/<!channel>|<https:/);
      // Alertmanager: only critical, in its v2 format.
      expect(am.bodies).to.have.length(1);
      const [amPost] = am.bodies as { path: string; body: { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[] }[];
      expect(amPost!.path).to.equal('/api/v2/alerts');
      expect(amPost!.body).to.have.length(1);
      expect(amPost!.body[0]!.labels).to.deep.include({ alertname: 'unattributed-break-glass', severity: 'critical', cluster: 'prod', actor: 'root' });
      expect(amPost!.body[0]!.startsAt).to.equal(alerts.find((a) => a.rule === 'unattributed-break-glass')!.time);
    } finally {
      await alerter.stop();
      await Promise.all([webhook.close(), slack.close(), am.close()]);
    }
  });

  it('keeps a failing sink from holding up the others, and delivers what it missed after a restart', async () => {
    const db = await storeWithAlerts('restart');
    const broken = await receiver();
    broken.failForever();
    const fine = await receiver();
    const sinks: AlerterSink[] = [
      { name: 'broken', type: 'webhook', url: broken.url },
      { name: 'fine', type: 'webhook', url: fine.url },
    ];
    let alerter = await Alerter.start(openSqliteAlertQueue(db, systemClock), { sinks, pollMs: 20, retryBaseMs: 30, retryMaxMs: 60, log, clock: systemClock });
    try {
      await waitFor(() => deliveries(db).rows.filter((r) => r.sink === 'fine' && r.state === 'delivered').length === 3, 'fine delivered', 20_000);
      await waitFor(() => deliveries(db).rows.some((r) => r.sink === 'broken' && r.attempts >= 3), 'broken retried', 20_000);
      const pending = deliveries(db).rows.filter((r) => r.sink === 'broken');
      expect(pending.every((r) => r.state === 'pending')).to.equal(true);
      expect(pending[0]!.last_error).to.contain('answered 503');
      await alerter.stop();
      // The receiver comes back while kubetrail is down; the deliveries wait in the store.
      broken.heal();
      alerter = await Alerter.start(openSqliteAlertQueue(db, systemClock), { sinks, pollMs: 20, retryBaseMs: 30, retryMaxMs: 60, log, clock: systemClock });
      await waitFor(() => deliveries(db).rows.every((r) => r.state === 'delivered'), 'all delivered after restart', 20_000);
      expect(broken.bodies).to.have.length(1);
      expect(fine.bodies).to.have.length(1);
    } finally {
      await alerter.stop();
      await Promise.all([broken.close(), fine.close()]);
    }
  });

  it('kubetrail serve raises alerts from webhook input and its alerter delivers them', async () => {
    const hook = await receiver();
    const config = join(dir, 'serve.yaml');
    writeFileSync(config, YAML.stringify({ alerts: { pollMs: 50, sinks: [{ name: 'soc', type: 'webhook', url: hook.url }] } }));
    const { child, url } = await startServe(['--db', join(dir, 'serve.db'), '--config', config]);
    try {
      const exec = makeEvent({ stage: 'ResponseStarted', verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'a', name: 'web', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 101 } });
      const res = await fetch(`${url}/audit/webhook/prod`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [exec] }) });
      expect(res.status).to.equal(200);
      await waitFor(() => hook.bodies.length > 0, 'the alert delivered', 20_000);
      const { body } = hook.bodies[0] as { body: { alerts: { rule: string; cluster: string; auditIDs: string[] }[] } };
      expect(body.alerts).to.have.length(1);
      expect(body.alerts[0]).to.deep.include({ rule: 'pod-exec-attach-portforward', cluster: 'prod', auditIDs: [exec.auditID] });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await hook.close();
    }
  });

  it('sends alerts in a SIEM\'s schema: OCSF Detection Findings to a webhook, ECS alerts to a file, each valid', async function () {
    const specs = sharedPath(this, 'spec');
    const db = await storeWithAlerts('siem');
    const hook = await receiver();
    const file = join(dir, 'siem', 'alerts.ndjson');
    mkdirSync(join(dir, 'siem'));
    const sinks: AlerterSink[] = [
      { name: 'ocsf', type: 'webhook', url: `${hook.url}/ocsf`, schema: 'ocsf' },
      { name: 'ecs-file', type: 'file', path: file, schema: 'ecs' },
    ];
    const alerter = await Alerter.start(openSqliteAlertQueue(db, systemClock), { sinks, pollMs: 20, retryBaseMs: 30, retryMaxMs: 60, log, clock: systemClock });
    try {
      await waitFor(() => deliveries(db).rows.filter((r) => r.state === 'delivered').length === 6, 'delivered to both', 30_000);
    } finally {
      await alerter.stop();
      await hook.close();
    }
    const findings = hook.bodies.flatMap((b) => (b as { body: Record<string, unknown>[] }).body);
    expect(findings.map((f) => f.class_uid)).to.deep.equal([2004, 2004, 2004]);
    expect(findings.map((f) => (f.finding_info as { analytic: { uid: string } }).analytic.uid)).to.have.members(['system-masters-use', 'unattributed-break-glass', 'secret-read']);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.map((l) => [l.event.kind, l.rule.id])).to.have.deep.members([['alert', 'system-masters-use'], ['alert', 'unattributed-break-glass'], ['alert', 'secret-read']]);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    if (!specs) return;
    const ocsf = new OcsfSchema(join(specs, 'ocsf-schema'));
    const ecs = new EcsSchema(join(specs, 'ecs', 'ecs_flat.yml'));
    for (const f of findings) expect(ocsf.validateEvent(f, 'detection_finding')).to.deep.equal([]);
    for (const l of lines) expect(ecs.validate(l)).to.deep.equal([]);
  });

  it('writes alerts to stdout as JSON lines', async () => {
    const db = await storeWithAlerts('stdout');
    const out = new PassThrough();
    let text = '';
    out.setEncoding('utf8').on('data', (d: string) => (text += d));
    const sink = await createSink({ name: 'out', type: 'stdout' }, out);
    const conn = new BetterSqlite3(db, { readonly: true });
    const alerts = getAlerts(conn, [1, 2]);
    conn.close();
    await sink.send(alerts);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; id: number });
    expect(lines.map((l) => [l.kind, l.id])).to.deep.equal([
      ['kubetrail.alert', 1],
      ['kubetrail.alert', 2],
    ]);
  });

  it('publishes alerts to a Kafka topic (real broker)', async function () {
    const brokers = kafkaBrokers(this);
    if (!brokers) return;
    const db = await storeWithAlerts('kafka');
    const topic = `alerts-${randomUUID()}`;
    const kafka = new Kafka({ clientId: 'kubetrail-test', brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic }, { topic: `${topic}-ocsf` }], waitForLeaders: true });
    await admin.disconnect();
    const sinks: AlerterSink[] = [
      { name: 'bus', type: 'kafka', brokers, topic },
      { name: 'lake', type: 'kafka', brokers, topic: `${topic}-ocsf`, schema: 'ocsf' },
    ];
    const alerter = await Alerter.start(openSqliteAlertQueue(db, systemClock), { sinks, pollMs: 20, retryBaseMs: 50, retryMaxMs: 200, log, clock: systemClock });
    const consumer = kafka.consumer({ groupId: `read-${topic}` });
    try {
      await waitFor(() => deliveries(db).rows.filter((r) => r.state === 'delivered').length === 6, 'published', 30_000);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic, `${topic}-ocsf`], fromBeginning: true });
      const got: { topic: string; rule: string }[] = [];
      await consumer.run({
        eachMessage: async ({ topic: t, message }) => {
          const v = JSON.parse(message.value!.toString()) as { rule?: string; finding_info?: { analytic: { uid: string } } };
          got.push({ topic: t, rule: v.rule ?? v.finding_info!.analytic.uid });
        },
      });
      await waitFor(() => got.length >= 6, '3 alerts on each topic', 30_000);
      const rules = ['system-masters-use', 'unattributed-break-glass', 'secret-read'];
      expect(got.filter((g) => g.topic === topic).map((g) => g.rule)).to.have.members(rules);
      expect(got.filter((g) => g.topic !== topic).map((g) => g.rule)).to.have.members(rules);
    } finally {
      await consumer.disconnect();
      await alerter.stop();
    }
  });
});

/** Alert delivery from a PostgreSQL database shared by several alerters (a real server). */
describe('alerter on PostgreSQL', function () {
  this.timeout(60_000);
  const log = createLogger('silent');

  it('two alerters of one database deliver each alert once, alerts raised while they run included', async function () {
    const server = postgresUrl(this);
    if (!server) return;
    const db = await freshPgDatabase(server);
    const clock = systemClock;
    const writer = await PgBatchStore.open(await openPgStore(db.url, { clock }), { clock, redactionKey: TEST_REDACTION_KEY });
    const pipeline = testPipeline({});
    // system:masters use by `n` people from `from` on: an alert each (and one each of break-glass).
    const raise = (from: number, n: number) =>
      writer.write([pipeline.prepare({ cluster: 'prod', source: 'test', events: Array.from({ length: n }, (_, i) => parsed({ user: { username: `admin-${from + i}`, groups: ['system:masters'] } })), rejected: [] })]);
    const hook = await receiver(2);
    const stores = [await openPgStore(db.url, { clock }), await openPgStore(db.url, { clock })];
    const alerters: Alerter[] = [];
    try {
      await raise(0, 20);
      for (const s of stores) {
        alerters.push(await Alerter.start({ queue: pgAlertQueue(s.pool), alerts: pgQueryStore(s).alerts, close: () => s.close() }, { sinks: [{ name: 'hook', type: 'webhook', url: `${hook.url}/alerts` }], pollMs: 20, retryBaseMs: 30, retryMaxMs: 60, log, clock }));
      }
      await raise(20, 20);
      const sent = () => hook.bodies.flatMap((b) => (b as { body: { alerts: { id: number }[] } }).body.alerts.map((a) => a.id));
      await waitFor(() => sent().length >= 80, '80 alerts delivered', 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const ids = sent();
      expect(ids).to.have.length(80);
      expect(new Set(ids).size).to.equal(80);
    } finally {
      for (const a of alerters) await a.stop();
      await writer.close();
      await hook.close();
      await db.drop();
    }
  });
});
