import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, TEST_REDACTION_KEY, cliEnv, freshPgDatabase, kafkaBrokers, makeEvent, postgresUrl, runCli, startServe, tempDir, waitFor } from '../../helpers.js';

/**
 * Many consumers, one answer: `kubetrail serve` consumers of one Kafka group write one
 * PostgreSQL database, and another kubetrail answers from it (a real broker and a real server).
 */
describe('Kafka consumers writing PostgreSQL (real broker, real server)', function () {
  this.timeout(180_000);
  let brokers: string[];
  let server: string;
  let kafka: Kafka;

  before(function () {
    const b = kafkaBrokers(this);
    const s = postgresUrl(this);
    if (!b || !s) return;
    brokers = b;
    server = s;
    kafka = new Kafka({ clientId: 'kubetrail-test', brokers, logLevel: logLevel.NOTHING });
  });

  /** Sends `count` events in lists of 100 (every tenth by system:masters); their auditIDs. */
  async function produce(topic: string, count: number): Promise<{ ids: string[]; masters: number }> {
    const ids: string[] = [];
    let masters = 0;
    const messages = [];
    for (let i = 0; i < count; i += 100) {
      const items = Array.from({ length: Math.min(100, count - i) }, (_, k) => {
        const admin = (i + k) % 10 === 0;
        if (admin) masters++;
        return makeEvent({ auditID: randomUUID(), ...(admin ? { user: { username: 'ops-admin', groups: ['system:masters', 'system:authenticated'] } } : {}) });
      });
      ids.push(...items.map((e) => e.auditID));
      messages.push({ key: items[0]!.auditID, value: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items }) });
    }
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < messages.length; i += 5) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 5) });
    await producer.disconnect();
    return { ids, masters };
  }

  async function count(url: string): Promise<{ events: number; distinct: number }> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query<{ events: string; distinct: string }>('SELECT count(*) AS events, count(DISTINCT audit_id) AS distinct FROM events').catch(() => ({ rows: [{ events: '0', distinct: '0' }] }));
      return { events: Number(r.rows[0]!.events), distinct: Number(r.rows[0]!.distinct) };
    } finally {
      await c.end();
    }
  }

  const stop = async (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };

  it('two consumers in one group, one killed with -9 mid-stream: a third instance sees every event once, and one alert', async () => {
    const topic = `audit-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    await admin.disconnect();
    const db = await freshPgDatabase(server);
    const env = cliEnv({
      KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic, KUBETRAIL_KAFKA_GROUP: `g-${topic}`,
      KUBETRAIL_DATABASE_URL: db.url, KUBETRAIL_REDACTION_KEY: TEST_REDACTION_KEY.toString('hex'),
    });
    const consumer = () => spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--services', 'ingest'], { env, stdio: 'ignore' });
    const children: ChildProcess[] = [];
    try {
      const sent = await produce(topic, 30_000);
      children.push(consumer(), consumer());
      await waitFor(async () => (await count(db.url)).events > 0, 'some events stored', 60_000);
      await stop(children[0]!, 'SIGKILL');
      // More arrive while one is down; the other takes its partitions once the group drops it.
      const more = await produce(topic, 10_000);
      const ids = [...sent.ids, ...more.ids];
      // Killed mid-stream: its partitions wait for the group to notice.
      expect((await count(db.url)).events).to.be.lessThan(ids.length);
      await waitFor(async () => (await count(db.url)).events >= ids.length, `${ids.length} events stored`, 120_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(await count(db.url)).to.deep.equal({ events: ids.length, distinct: ids.length });

      // A third kubetrail, which consumes nothing, answers from the same database.
      const reader = await startServe(['--services', 'api'], env);
      children.push(reader.child);
      const events = await runCli(['events', '--server', reader.url, '--limit', '0', '--output', 'ndjson'], cliEnv());
      expect(events.status, events.stderr).to.equal(0);
      const shown = events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID);
      expect(shown).to.have.length(ids.length);
      expect(new Set(shown)).to.deep.equal(new Set(ids));
      // Each system:masters request counted once, in one alert, whichever consumer stored it.
      const alerts = await runCli(['alerts', '--server', reader.url, '--rule', 'system-masters-use', '--output', 'json'], cliEnv());
      expect(alerts.status, alerts.stderr).to.equal(0);
      expect((JSON.parse(alerts.stdout) as { count: number }[]).map((a) => a.count)).to.deep.equal([sent.masters + more.masters]);
      // Either writer's cluster in the ingest status.
      const status = (await (await fetch(`${reader.url}/api/v1/ingest/status`)).json()) as { clusters: { cluster: string }[] };
      expect(status.clusters.map((c) => c.cluster)).to.deep.equal(['default']);
      const rbac = join(tempDir(), 'rbac.yaml');
      writeFileSync(rbac, 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: [{apiGroups: [""], resources: [pods], verbs: [get]}]\n');
      expect((await runCli(['rbac', 'load', rbac], env)).status).to.equal(0);
      // The usage the report reads counts every request once, whichever consumer stored it.
      const report = await fetch(`${reader.url}/api/v1/rbac/report?since=2026-07-23T00:00:00Z&until=2026-07-24T00:00:00Z`);
      expect(report.status, await report.clone().text()).to.equal(200);
      const subjects = ((await report.json()) as { subjects: { name: string; requests: { total: number } }[] }).subjects;
      expect(Object.fromEntries(subjects.map((x) => [x.name, x.requests.total]))).to.deep.equal({ alice: ids.length - sent.masters - more.masters, 'ops-admin': sent.masters + more.masters });
    } finally {
      for (const c of children) await stop(c);
      await db.drop();
    }
  });
});
