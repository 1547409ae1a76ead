import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import { loadConfig } from '../../../shared/config.js';
import { createLogger } from '../../../shared/log.js';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { serve, type RunningServer } from '../../../services/cli/serve.js';
import { CLI, cliEnv, makeEvent, tempDir } from '../../helpers.js';

const eventList = (items: unknown[]) => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });

describe('webhook (real HTTP)', () => {
  const dir = tempDir();
  const db = join(dir, 'kubetrail.db');
  let server: RunningServer;

  before(async () => {
    const file = join(dir, 'kubetrail.yaml');
    writeFileSync(file, ['listen: 127.0.0.1:0', 'cluster: main', 'webhook:', '  maxBodyBytes: 64KiB', 'quarantine:', '  maxRawBytes: 4KiB'].join('\n'));
    server = await serve(loadConfig({ file, env: {}, overrides: { databasePath: db } }), ['ingest'], createLogger('silent'));
  });
  after(() => server.stop());

  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(server.url + path, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'application/json', ...headers } });

  function stored(filter: Parameters<typeof queryActions>[1] = {}) {
    const s = openStore(db, { readonly: true });
    try {
      return [...queryActions(s.db, filter)];
    } finally {
      s.close();
    }
  }

  function quarantined(): { position: string; reason: string; raw: Buffer; raw_size: number; cluster: string }[] {
    const s = openStore(db, { readonly: true });
    try {
      return s.db.prepare('SELECT position, reason, raw, raw_size, cluster FROM quarantine ORDER BY id').all() as never;
    } finally {
      s.close();
    }
  }

  it('answers healthz and readyz', async () => {
    expect((await fetch(server.url + '/healthz')).status).to.equal(200);
    expect(await (await fetch(server.url + '/readyz')).text()).to.equal('ok');
  });

  it('stores an EventList and answers with counts; a re-sent batch is all duplicates', async () => {
    const items = [makeEvent(), makeEvent(), makeEvent()];
    const first = await post('/audit/webhook/prod-eu', JSON.stringify(eventList(items)));
    expect(first.status).to.equal(200);
    expect(await first.json()).to.deep.equal({ accepted: 3, duplicates: 0, quarantined: 0 });
    const again = await post('/audit/webhook/prod-eu', JSON.stringify(eventList(items)));
    expect(await again.json()).to.deep.equal({ accepted: 0, duplicates: 3, quarantined: 0 });
    const rows = stored({ cluster: 'prod-eu' });
    expect(rows.map((r) => r.event.auditID)).to.have.members(items.map((e) => e.auditID));
  });

  it('reads a managed provider\'s records in the cluster of the path, whatever cluster they name', async () => {
    const body = readFileSync(join(process.cwd(), 'test', 'fixtures', 'cloud', 'aks-event-hub.json'));
    const res = await post('/audit/webhook/orders', body);
    expect(await res.json()).to.deep.equal({ accepted: 2, duplicates: 0, quarantined: 0 });
    expect(stored({ cluster: 'orders' }).map((r) => r.event.verb).sort()).to.deep.equal(['get', 'patch']);
    expect(stored({ cluster: 'ORDERS-AKS' })).to.deep.equal([]);
  });

  it('takes Firehose HTTP endpoint deliveries of CloudWatch subscription payloads, answering as Firehose expects', async () => {
    const payload = readFileSync(join(process.cwd(), 'test', 'fixtures', 'cloud', 'eks-subscription.json'));
    const event = JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'cloud', 'eks-native-event.json'), 'utf8')) as { auditID: string };
    const delivery = {
      requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
      timestamp: 1793610961000,
      // Gzipped, as CloudWatch Logs hands it to Firehose; and as message extraction leaves it (the Event's line).
      records: [{ data: gzipSync(payload).toString('base64') }, { data: Buffer.from(JSON.stringify({ ...event, auditID: 'firehose-extracted-1' })).toString('base64') }],
    };
    const res = await post('/audit/firehose/eks-prod', JSON.stringify(delivery), { 'x-amz-firehose-request-id': delivery.requestId });
    expect(res.status).to.equal(200);
    const answer = (await res.json()) as { requestId: string; timestamp: number };
    expect(Object.keys(answer).sort()).to.deep.equal(['requestId', 'timestamp']);
    expect(answer.requestId).to.equal(delivery.requestId);
    expect(stored({ cluster: 'eks-prod' }).map((r) => r.event.auditID).sort()).to.deep.equal([event.auditID, '6b0c1b9e-3c61-4d9a-9f5e-2f1c0a4c7e02', 'firehose-extracted-1'].sort());
    // The truncated message of the payload is quarantined, the delivery still answered 200 (Firehose would only send it again).
    expect(quarantined().filter((q) => q.cluster === 'eks-prod').map((q) => q.reason)).to.satisfy((rs: string[]) => rs.some((r) => r.includes('[Truncated...]')));
    const bad = await post('/audit/firehose/eks-prod', 'not json', { 'x-amz-firehose-request-id': 'r-2' });
    expect(bad.status).to.equal(400);
    expect(await bad.json()).to.include({ requestId: 'r-2' }).and.have.property('errorMessage').that.contains('not JSON');
  });

  it('takes a single Event, for the configured default cluster without a path segment', async () => {
    const e = makeEvent();
    const res = await post('/audit/webhook', JSON.stringify(e));
    expect(await res.json()).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(stored({ cluster: 'main' }).map((r) => r.event.auditID)).to.include(e.auditID);
  });

  it('stores the good events of a batch with bad ones, quarantining each bad one with its position', async () => {
    const good = [makeEvent(), makeEvent()];
    const body = eventList([good[0], { ...makeEvent(), stage: 'Nope' }, good[1], { kind: 'Event', auditID: 'x' }]);
    const res = await post('/audit/webhook/mixed', JSON.stringify(body));
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ accepted: 2, duplicates: 0, quarantined: 2 });
    expect(stored({ cluster: 'mixed' }).map((r) => r.event.auditID)).to.have.members(good.map((e) => e.auditID));
    const q = quarantined().filter((r) => r.cluster === 'mixed');
    expect(q.map((r) => [r.position, r.reason.split(':')[0]])).to.deep.equal([['item 1', 'stage'], ['item 3', 'stage']]);
  });

  it('answers 200 when every item is invalid: a retry cannot help', async () => {
    const res = await post('/audit/webhook/allbad', JSON.stringify(eventList([{ kind: 'Event' }, 7])));
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ accepted: 0, duplicates: 0, quarantined: 2 });
  });

  it('quarantines a bad single Event with a position, item 0', async () => {
    const res = await post('/audit/webhook/single', JSON.stringify({ ...makeEvent(), stage: 'Later' }));
    expect(await res.json()).to.deep.equal({ accepted: 0, duplicates: 0, quarantined: 1 });
    expect(quarantined().filter((r) => r.cluster === 'single').map((r) => r.position)).to.deep.equal(['item 0']);
  });

  it('a second server on the same port fails to start, and exits instead of hanging', async function () {
    const file = join(dir, 'clash.yaml');
    writeFileSync(file, `listen: ${new URL(server.url).host}\n`);
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file, '--db', join(dir, 'clash.db')], { encoding: 'utf8', timeout: 20_000, env: cliEnv() });
    expect(r.signal, 'still running after 20 s').to.equal(null);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('EADDRINUSE');
  });

  it('answers 400 to a body that is not JSON, and quarantines it', async () => {
    const res = await post('/audit/webhook/bad', '{"kind": "EventList", items: [');
    expect(res.status).to.equal(400);
    const body = await res.json();
    expect(body.error).to.match(/^body is not JSON: /);
    expect(body.quarantined).to.equal(1);
    const q = quarantined().filter((r) => r.cluster === 'bad');
    expect(q.map((r) => [r.position, r.raw.toString()])).to.deep.equal([['webhook body', '{"kind": "EventList", items: [']]);
  });

  it('answers 400 to JSON that is not an Event or EventList', async () => {
    const res = await post('/audit/webhook/bad2', JSON.stringify({ kind: 'Pod', apiVersion: 'v1' }));
    expect(res.status).to.equal(400);
    expect((await res.json()).error).to.equal('kind: expected "Event" or "EventList", got "Pod"');
  });

  it('answers 413 over the body cap, declared or streamed, and stores nothing of it', async () => {
    const items = Array.from({ length: 200 }, () => makeEvent());
    const big = JSON.stringify(eventList(items));
    expect(big.length).to.be.greaterThan(64 * 1024);
    const declared = await post('/audit/webhook/big', big);
    expect(declared.status).to.equal(413);
    expect((await declared.json()).error).to.match(/over the cap of 65536 bytes \(webhook.maxBodyBytes\)/);
    const chunks = [Buffer.from(big.slice(0, 40000)), Buffer.from(big.slice(40000))];
    const streamed = await fetch(server.url + '/audit/webhook/big', {
      method: 'POST',
      body: new ReadableStream({ start(c) { chunks.forEach((x) => c.enqueue(x)); c.close(); } }),
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).to.equal(413);
    expect(stored({ cluster: 'big' })).to.have.length(0);
  });

  it('accepts a gzip-encoded body', async () => {
    const e = makeEvent();
    const res = await post('/audit/webhook/gz', gzipSync(JSON.stringify(eventList([e]))), { 'content-encoding': 'gzip' });
    expect(await res.json()).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 0 });
  });

  it('refuses a cluster name that is not a plain name', async () => {
    const res = await post('/audit/webhook/' + encodeURIComponent('a b'), JSON.stringify(makeEvent()));
    expect(res.status).to.equal(400);
  });

  it('answers 503 when the store cannot commit, and stores the batch when it is re-sent', async () => {
    const blocker = new BetterSqlite3(db);
    blocker.exec("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const items = [makeEvent(), makeEvent()];
    try {
      const res = await post('/audit/webhook/flaky', JSON.stringify(eventList(items)));
      expect(res.status).to.equal(503);
      expect((await res.json()).error).to.match(/cannot commit to the store: disk full/);
    } finally {
      blocker.exec('DROP TRIGGER refuse');
      blocker.close();
    }
    const retry = await post('/audit/webhook/flaky', JSON.stringify(eventList(items)));
    expect(await retry.json()).to.deep.equal({ accepted: 2, duplicates: 0, quarantined: 0 });
  });

  it('counts what it took on /metrics', async () => {
    const text = await (await fetch(server.url + '/metrics')).text();
    expect(text).to.match(/^kubetrail_ingest_events_total\{source="webhook",outcome="accepted"\} [1-9]\d*$/m);
    expect(text).to.match(/^kubetrail_ingest_events_total\{source="webhook",outcome="duplicate"\} [1-9]\d*$/m);
    expect(text).to.match(/^kubetrail_ingest_events_total\{source="webhook",outcome="quarantined"\} [1-9]\d*$/m);
  });

  it('commits concurrent batches together and answers each with its own counts', async () => {
    // As many as webhook.maxConcurrentBodies lets in at once (8).
    const batches = Array.from({ length: 8 }, (_, i) => Array.from({ length: 5 + i }, () => makeEvent()));
    const answers = await Promise.all(batches.map((b) => post('/audit/webhook/concurrent', JSON.stringify(eventList(b))).then((r) => r.json())));
    expect(answers).to.deep.equal(batches.map((b) => ({ accepted: b.length, duplicates: 0, quarantined: 0 })));
    expect(stored({ cluster: 'concurrent' })).to.have.length(batches.flat().length);
  });
});

describe('webhook bearer tokens', () => {
  const dir = tempDir();
  let server: RunningServer;
  const token = 'a-long-enough-webhook-token';

  before(async () => {
    const file = join(dir, 'kubetrail.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nwebhook:\n  tokens: ["${token}"]\n`);
    server = await serve(loadConfig({ file, env: {}, overrides: { databasePath: join(dir, 't.db') } }), ['ingest'], createLogger('silent'));
  });
  after(() => server.stop());

  it('answers 401 without the token and 200 with it', async () => {
    const body = JSON.stringify(makeEvent());
    const none = await fetch(server.url + '/audit/webhook', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(none.status).to.equal(401);
    const wrong = await fetch(server.url + '/audit/webhook', { method: 'POST', body, headers: { authorization: 'Bearer nope', 'content-type': 'application/json' } });
    expect(wrong.status).to.equal(401);
    const right = await fetch(server.url + '/audit/webhook', { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(right.status).to.equal(200);
  });

  it('takes a Firehose delivery only with one of the tokens as its access key', async () => {
    const body = JSON.stringify({ requestId: 'r-1', timestamp: 1, records: [{ data: Buffer.from(JSON.stringify(makeEvent())).toString('base64') }] });
    const send = (key?: string) => fetch(server.url + '/audit/firehose', { method: 'POST', body, headers: { 'content-type': 'application/json', ...(key ? { 'x-amz-firehose-access-key': key } : {}) } });
    const none = await send();
    expect(none.status).to.equal(401);
    expect(await none.json()).to.have.property('errorMessage').that.contains('X-Amz-Firehose-Access-Key');
    expect((await send('nope')).status).to.equal(401);
    // A bearer token is the webhook's way, not Firehose's.
    expect((await send(token)).status).to.equal(200);
  });
});
