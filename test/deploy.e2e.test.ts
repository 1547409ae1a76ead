import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { newToken } from '../shared/access.js';
import { CLI, TEST_REDACTION_KEY, cliEnv, freshPgDatabase, kafkaBrokers, makeEvent, postgresUrl, runCli, tempDir, waitFor } from './helpers.js';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
}

/** `${NAME}`, `${NAME:?message}` and `${NAME:-default}` in the values of a compose file, from `vars`, as compose does after parsing it. */
function interpolate<T>(value: T, vars: Record<string, string>): T {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars)])) as T;
  if (typeof value !== 'string') return value;
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (op === '?') throw new Error(`compose needs ${name}: ${arg}`);
    return op === '-' ? arg : '';
  }) as T;
}

/** The Dockerfile's ENV, ENTRYPOINT and CMD: what a container of the image runs. */
function image(): { env: Record<string, string>; entrypoint: string[]; cmd: string[] } {
  const lines = readFileSync('Dockerfile', 'utf8').split('\n');
  const final = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')));
  const env: Record<string, string> = {};
  for (const l of final.filter((x) => x.startsWith('ENV '))) for (const [, k, v] of l.slice(4).matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
  const json = (prefix: string) => JSON.parse(final.find((l) => l.startsWith(prefix))!.slice(prefix.length)) as string[];
  return { env, entrypoint: json('ENTRYPOINT '), cmd: json('CMD ') };
}

/**
 * The container deployment: docker-compose.yml and the Dockerfile. No container engine runs
 * here, so each kubetrail service's command is run as the image would run it (its ENTRYPOINT
 * and CMD, the image's and the service's environment, the mounted configuration), against a
 * real Kafka broker and a real PostgreSQL in place of the compose ones.
 */
describe('container deployment files (their commands run with their environment)', function () {
  this.timeout(120_000);

  it('compose: two kubetrail consumers of one Kafka group write one PostgreSQL, and either answers from it', async function () {
    const brokers = kafkaBrokers(this);
    const server = postgresUrl(this);
    if (!brokers || !server) return;
    const file = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as unknown;
    const { token } = newToken();
    const webhookToken = newToken().token;
    const compose = interpolate(file, { POSTGRES_PASSWORD: 'pw', KUBETRAIL_REDACTION_KEY: TEST_REDACTION_KEY.toString('hex'), KUBETRAIL_API_TOKEN: token, KUBETRAIL_WEBHOOK_TOKEN: webhookToken }) as {
      services: Record<string, ComposeService>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(compose.services)).to.have.members(['kafka', 'postgres', 'kubetrail', 'kubetrail-2']);
    expect(compose.services.kafka!.image).to.match(/^apache\/kafka:4\./);
    expect(compose.services.postgres!.image).to.match(/^postgres:1[5-9]/);
    const consumers = ['kubetrail', 'kubetrail-2'].map((name) => compose.services[name]!);
    // Without the variables the file says what to set, the tokens included.
    expect(() => interpolate(file, {})).to.throw('POSTGRES_PASSWORD');
    expect(() => interpolate(file, { POSTGRES_PASSWORD: 'pw', KUBETRAIL_REDACTION_KEY: 'k' })).to.throw('KUBETRAIL_API_TOKEN');

    const db = await freshPgDatabase(server);
    const dir = tempDir();
    // The mounted configuration as shipped: the tokens come from the environment.
    const configFile = resolve('deploy/compose/kubetrail.yaml');
    const kafka = new Kafka({ clientId: 'kubetrail-test', brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topic = 'k8s-audit';
    if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    const img = image();
    const children: ChildProcess[] = [];
    try {
      const urls: string[] = [];
      for (const service of consumers) {
        for (const v of service.volumes ?? []) expect(v).to.match(/^(\.\/deploy\/compose\/kubetrail\.yaml:\/config\/kubetrail\.yaml:ro|kubetrail-archive:\/data\/archive)$/);
        const env: Record<string, string> = { ...img.env, ...Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)])) };
        // The compose network's names and the container's paths, here.
        expect(env.KAFKA_BROKERS).to.equal('kafka:9092');
        expect(env.KUBETRAIL_DATABASE_URL).to.equal('postgres://kubetrail:pw@postgres:5432/kubetrail');
        expect(env.KUBETRAIL_CONFIG).to.equal('/config/kubetrail.yaml');
        Object.assign(env, { KAFKA_BROKERS: brokers.join(','), KUBETRAIL_DATABASE_URL: db.url, KUBETRAIL_CONFIG: configFile, KUBETRAIL_DB: join(dir, 'kubetrail.db'), KUBETRAIL_LISTEN: env.KUBETRAIL_LISTEN!.replace('0.0.0.0:8080', '127.0.0.1:0') });
        const [command, ...args] = [...img.entrypoint, ...(service.command ?? img.cmd)];
        expect(command).to.equal('node');
        const child = spawn(process.execPath, [CLI, ...args.slice(1)], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
        children.push(child);
        let log = '';
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
        await waitFor(() => /"url":"(http:\/\/[^"]+)"/.test(log) || child.exitCode !== null, 'kubetrail serving', 60_000);
        expect(child.exitCode, log).to.equal(null);
        const url = /"url":"(http:\/\/[^"]+)"/.exec(log)![1]!;
        expect((await fetch(`${url}/readyz`)).status).to.equal(200);
        // The webhook takes the apiserver's token, and nothing without it.
        const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [] });
        expect((await fetch(`${url}/audit/webhook`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status).to.equal(401);
        expect((await fetch(`${url}/audit/webhook`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${webhookToken}` } })).status).to.equal(200);
        urls.push(url);
      }
      const producer = kafka.producer();
      await producer.connect();
      const ids: string[] = [];
      for (let m = 0; m < 40; m++) {
        const items = Array.from({ length: 100 }, () => makeEvent({ auditID: randomUUID() }));
        ids.push(...items.map((e) => e.auditID));
        await producer.send({ topic, acks: -1, messages: [{ key: items[0]!.auditID, value: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items }) }] });
      }
      await producer.disconnect();
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await waitFor(async () => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n) >= ids.length, `${ids.length} events stored`, 60_000);
        // Both consumers wrote (a chain stream each, with links).
        const streams = await c.query<{ n: string }>('SELECT count(DISTINCT stream_id) AS n FROM chain_links');
        expect(Number(streams.rows[0]!.n)).to.equal(2);
      } finally {
        await c.end();
      }
      // Either answers from the one store, with the token.
      for (const url of urls) {
        const refused = await fetch(`${url}/api/v1/events?limit=1`);
        expect(refused.status).to.equal(401);
        const shown = await runCli(['events', '--server', url, '--token', token, '--limit', '0', '--output', 'ndjson'], cliEnv());
        expect(shown.status, shown.stderr).to.equal(0);
        const auditIDs = shown.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { auditID: string }).auditID);
        expect(auditIDs).to.have.length(ids.length);
        expect(new Set(auditIDs)).to.deep.equal(new Set(ids));
      }
    } finally {
      for (const child of children) {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
      }
      await admin.disconnect();
      await db.drop();
    }
  });

  it('compose: without an API token in the mounted configuration, kubetrail refuses to start and says what to add', async () => {
    const r = spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH!, ...image().env, KUBETRAIL_CONFIG: 'deploy/compose/kubetrail.yaml', KUBETRAIL_DB: join(tempDir(), 'k.db'), KUBETRAIL_REDACTION_KEY: TEST_REDACTION_KEY.toString('hex') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    r.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise((done) => r.once('exit', done));
    expect(code).to.equal(2);
    expect(err).to.include('the query API has no tokens (api.tokens)').and.include('KUBETRAIL_API_TOKEN');
  });

  it('Dockerfile: its CMD, with the image\'s environment and an API token from the environment (or a file), starts and answers /readyz', async () => {
    const img = image();
    expect(img.env).to.deep.include({ KUBETRAIL_LISTEN: '0.0.0.0:8080', KUBETRAIL_DB: '/data/kubetrail.db' });
    const dir = tempDir();
    const { token } = newToken();
    writeFileSync(join(dir, 'api-token'), `${token}\n`);
    for (const secret of [{ KUBETRAIL_API_TOKEN: token }, { KUBETRAIL_API_TOKEN_FILE: join(dir, 'api-token') }]) {
      // The image's paths and address, here: /data is the volume.
      const env = { ...img.env, KUBETRAIL_LISTEN: '127.0.0.1:0', KUBETRAIL_DB: join(dir, 'data', 'kubetrail.db'), KUBETRAIL_REDACTION_KEY: TEST_REDACTION_KEY.toString('hex'), ...secret };
      const [command, ...args] = [...img.entrypoint, ...img.cmd];
      expect(command).to.equal('node');
      const child = spawn(process.execPath, [CLI, ...args.slice(1)], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
      try {
        await waitFor(() => /"url":"(http:\/\/[^"]+)"/.test(log) || child.exitCode !== null, 'kubetrail serving', 60_000);
        expect(child.exitCode, log).to.equal(null);
        const url = /"url":"(http:\/\/[^"]+)"/.exec(log)![1]!;
        expect((await fetch(`${url}/readyz`)).status).to.equal(200);
        expect((await fetch(`${url}/api/v1/events?limit=1`)).status).to.equal(401);
        expect((await fetch(`${url}/api/v1/events?limit=1`, { headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
        // Only its hash is kept: the token is in no log line.
        expect(log).to.not.contain(token);
      } finally {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('Dockerfile: node:20-slim, production dependencies only, a non-root user', () => {
    const lines = readFileSync('Dockerfile', 'utf8').split('\n');
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.every((l) => l.startsWith('FROM node:20-slim'))).to.equal(true);
    expect(lines).to.include('RUN npm run build && npm prune --omit=dev');
    expect(lines).to.include('USER node');
    expect(image().cmd).to.deep.equal(['serve']);
  });
});
