import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { cliEnv, makeEvent, runCli, startServe, tempDir } from '../../helpers.js';

/**
 * Input an attacker crafts, against a real `kubetrail serve` and `kubetrail ingest`: an event
 * nested thousands of levels deep must not take its batch down, and no secret of rejected or
 * stored input may reach the database, its WAL, archives, logs or API answers.
 */
describe('hostile input (real serve and ingest)', function () {
  this.timeout(120_000);
  const dir = tempDir();
  const env = cliEnv({ KUBETRAIL_DB: join(dir, 'k.db') });
  let serve: ChildProcess;
  let url = '';
  let logs: () => string;

  // Secrets as a Secret's stringData, as base64 data, in a last-applied annotation set by a JSON patch.
  const SECRET = 'S3cr3t-Plaintext-Value-42';
  const DATA = Buffer.from('another-plaintext-9f3e').toString('base64');
  const APPLIED = 'Applied-Pa55word-7731';
  // As text: JSON.stringify itself cannot go this deep.
  const DEEP_ARRAYS = '['.repeat(3000) + ']'.repeat(3000);
  const DEEP_OBJECTS = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
  const deepEvent = (deep: string) => JSON.stringify(makeEvent({ level: 'Request', requestObject: 'DEEP' })).replace('"DEEP"', deep);

  before(async () => {
    ({ child: serve, url, logs } = await startServe([], env));
  });
  after(() => serve?.kill('SIGTERM'));

  const post = (body: string) => fetch(`${url}/audit/webhook/c`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const events = async (): Promise<{ auditID: string }[]> => JSON.parse((await runCli(['events', '--since', '2000-01-01T00:00:00Z', '--limit', '0', '--output', 'json'], env)).stdout);
  const quarantine = async (): Promise<{ reason: string; raw: string; rawSize: number; rawSha256: string | null }[]> => ((await (await fetch(`${url}/api/v1/quarantine?limit=1000`)).json()) as { items: never[] }).items;

  it('stores a webhook batch around events nested 3,000 arrays and 5,000 objects deep, which are quarantined alone', async () => {
    const good = [makeEvent(), makeEvent()];
    const res = await post(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${JSON.stringify(good[0])},${deepEvent(DEEP_ARRAYS)},${deepEvent(DEEP_OBJECTS)},${JSON.stringify(good[1])}]}`);
    expect(res.status, await res.text()).to.equal(200);
    expect((await events()).map((e) => e.auditID)).to.include.members(good.map((e) => e.auditID));
    const q = await quarantine();
    expect(q.filter((r) => /nests deeper than 200 levels/.test(r.reason))).to.have.length(2);
  });

  it('quarantines an empty body and a body nested 100,000 levels deep, and the quarantine view still answers', async () => {
    const before = (await quarantine()).length;
    expect((await post('')).status).to.equal(400);
    expect((await post('['.repeat(100_000) + ']'.repeat(100_000))).status).to.be.oneOf([200, 400]);
    expect((await post('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000))).status).to.equal(400);
    const q = await quarantine();
    expect(q.length - before).to.equal(3);
    expect(q[0]!.rawSize).to.equal(600_001);
    expect(q[1]!.reason).to.match(/nests deeper than 200 levels/);
    expect(q[2]!.rawSize).to.equal(0);
  });

  it('answers an out-of-range time with 400 naming it, never caches, never sniffs', async () => {
    for (const path of ['/api/v1/events?since=9999999999999d', '/api/v1/alerts?since=9999999999999d', '/api/v1/identities?since=9999999999999d']) {
      const res = await fetch(url + path);
      expect(res.status, path).to.equal(400);
      expect(((await res.json()) as { error: string }).error, path).to.match(/since/);
      expect(res.headers.get('cache-control'), path).to.equal('no-store');
      expect(res.headers.get('x-content-type-options'), path).to.equal('nosniff');
    }
  });

  it("refuses what a web page in the user's browser can send: other Origins, rebound host names, writes not in JSON", async () => {
    const masters = makeEvent({ user: { username: 'root', groups: ['system:masters', 'system:authenticated'] } });
    // A form or a no-cors fetch can only send text/plain: nothing of it is stored.
    const forged = await fetch(`${url}/audit/webhook/c`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(masters) });
    expect(forged.status).to.equal(415);
    expect((await events()).map((e) => e.auditID)).to.not.include(masters.auditID);
    expect((await post(JSON.stringify(masters))).status).to.equal(200);
    const alerts = async () => ((await (await fetch(`${url}/api/v1/alerts?status=open`)).json()) as { items: { id: number }[] }).items;
    const [alert] = await alerts();
    expect(alert).to.not.equal(undefined);
    const resolve = (headers: Record<string, string>) => fetch(`${url}/api/v1/alerts/${alert!.id}/resolve`, { method: 'POST', headers, body: '{}' });
    expect((await resolve({ 'content-type': 'text/plain', origin: 'http://evil.example' })).status).to.equal(415);
    expect((await resolve({ 'content-type': 'application/json', origin: 'http://evil.example' })).status).to.equal(403);
    expect((await resolve({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' })).status).to.equal(403);
    expect((await alerts()).map((a) => a.id)).to.include(alert!.id);
    // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
    // (fetch will not set Host: node:http does.)
    const port = new URL(url).port;
    const statusWithHost = (host: string) =>
      new Promise<number>((resolve, reject) => get(`${url}/api/v1/alerts`, { headers: { host } }, (res) => resolve(res.resume().statusCode!)).on('error', reject));
    expect(await statusWithHost(`evil.example:${port}`)).to.equal(421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) expect(await statusWithHost(host), host).to.equal(200);
    // The server's own page: same Origin.
    expect((await resolve({ 'content-type': 'application/json', origin: url })).status).to.equal(200);
  });

  it('kubetrail ingest goes on past a line nested too deep', async () => {
    const file = join(dir, 'deep.jsonl');
    writeFileSync(file, [JSON.stringify(makeEvent()), deepEvent(DEEP_ARRAYS), JSON.stringify(makeEvent())].join('\n') + '\n');
    const r = await runCli(['ingest', file, '--cluster', 'c', '--output', 'json'], env);
    expect(r.status, r.stderr).to.equal(2);
    expect(JSON.parse(r.stdout)).to.deep.include({ read: 3, stored: 2, quarantined: 1 });
  });

  it('makes every ill-formed string well formed at ingest, so the chain verifies: lone surrogates, reversed pairs, invalid UTF-8', async () => {
    const d = tempDir();
    const own = cliEnv({ KUBETRAIL_DB: join(d, 'k.db') });
    const escapes = ['\\ud800', '\\udfff', 'a\\udc00\\ud800b', 'end\\ud83d'];
    const lines = escapes.map((bad) =>
      JSON.stringify(makeEvent({ userAgent: 'UA', level: 'Request', requestObject: { kind: 'ConfigMap', data: { KEY: 'VALUE' } }, annotations: { 'x/y': 'ANN' }, user: { username: 'USER', groups: ['G'] } }))
        .replace('"UA"', `"ua${bad}"`).replace('"KEY"', `"k${bad}"`).replace('"VALUE"', `"v${bad}"`).replace('"ANN"', `"n${bad}"`).replace('"USER"', `"u${bad}"`).replace('"G"', `"g${bad}"`),
    );
    const file = join(d, 'bad.jsonl');
    // Raw bytes no UTF-8 decoder accepts, too: a stray continuation byte, an overlong encoding, 0xff.
    const rawBad = Buffer.from(JSON.stringify(makeEvent({ userAgent: 'RAW' })).replace('"RAW"', '"r__"'), 'utf8');
    const at = rawBad.indexOf('r__');
    rawBad[at + 1] = 0x80;
    rawBad[at + 2] = 0xff;
    writeFileSync(file, Buffer.concat([Buffer.from(lines.join('\n') + '\n'), rawBad, Buffer.from('\n'), Buffer.from([0xc0, 0xaf]), Buffer.from('\n')]));
    const r = await runCli(['ingest', file, '--cluster', 'c', '--output', 'json'], own);
    expect(JSON.parse(r.stdout)).to.deep.include({ stored: 5, quarantined: 1 });
    const verify = await runCli(['verify'], own);
    expect(verify.status, verify.stdout).to.equal(0);
    const stored = JSON.parse((await runCli(['events', '--since', '2000-01-01T00:00:00Z', '--output', 'json'], own)).stdout) as { user: string; userAgent: string }[];
    for (const e of stored) expect(e.userAgent.isWellFormed() && e.user.isWellFormed(), e.userAgent).to.equal(true);
    expect(stored.map((e) => e.userAgent)).to.include('ua\ufffd');
  });

  it('keeps no secret of a Secret event that fails validation, a truncated body, a last-applied JSON patch; keeps __proto__ keys', async () => {
    const secretEvent = makeEvent({ level: 'Request', verb: 'create', objectRef: { resource: 'secrets', namespace: 'a', name: 'db', apiVersion: 'v1' }, requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, stringData: { password: SECRET }, data: { key: DATA } } });
    delete (secretEvent as Record<string, unknown>).stageTimestamp;
    expect((await post(JSON.stringify(secretEvent))).status).to.equal(200);
    const truncated = JSON.stringify({ kind: 'EventList', items: [{ requestObject: { kind: 'Secret', data: { key: DATA }, stringData: { password: SECRET } } }] }).slice(0, -8);
    expect((await post(truncated)).status).to.equal(400);
    // V8 quotes a piece of the input when it names an unexpected token: not in a reason.
    const unquoted = await post(`{"kind":"EventList","items":[{"token": ${SECRET}}]}`);
    expect(unquoted.status).to.equal(400);
    expect(await unquoted.text()).to.not.contain(SECRET);
    // Old enough for retention to archive: the stored body must be redacted there too.
    const at = '2018-10-26T13:42:46.764713Z';
    const patch = makeEvent({
      level: 'Request', verb: 'patch', requestReceivedTimestamp: at, stageTimestamp: at,
      objectRef: { resource: 'deployments', namespace: 'a', name: 'web', apiGroup: 'apps', apiVersion: 'v1' },
      requestObject: [{ op: 'add', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: JSON.stringify({ kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'PASSWORD', value: APPLIED }] }] } } } }) }],
    });
    const proto = makeEvent({ level: 'Request', verb: 'create', requestReceivedTimestamp: at, stageTimestamp: at, objectRef: { resource: 'configmaps', namespace: 'a', name: 'odd', apiVersion: 'v1' }, requestObject: JSON.parse('{"kind":"ConfigMap","data":{"__proto__":"kept","plain":"x"}}') });
    expect((await post(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [patch, proto] }))).status).to.equal(200);

    const q = await quarantine();
    const secretRow = q.find((r) => r.reason.includes('stageTimestamp'))!;
    expect(secretRow.raw).to.contain('kubetrail:redacted:').and.not.contain(SECRET);
    expect(secretRow.rawSha256).to.match(/^[0-9a-f]{64}$/);
    const truncatedRow = q.find((r) => r.rawSize === Buffer.byteLength(truncated))!;
    expect(truncatedRow.reason).to.match(/^body is not JSON/);
    expect(q.map((r) => r.reason).join('\n')).to.not.contain(SECRET);
    expect(truncatedRow.raw).to.not.contain(SECRET).and.not.contain(DATA);

    const stored = JSON.parse((await runCli(['events', '--since', '2018-01-01T00:00:00Z', '--until', '2019-01-01T00:00:00Z', '--output', 'json'], env)).stdout) as { auditID: string }[];
    expect(stored.map((e) => e.auditID)).to.have.members([patch.auditID, proto.auditID]);
    const body = async (id: string) => (await (await fetch(`${url}/api/v1/events/c/${id}`)).json()) as { stages: { requestObject: unknown }[] };
    expect(JSON.stringify(await body(patch.auditID))).to.contain('kubetrail:redacted:').and.not.contain(APPLIED);
    const cm = (await body(proto.auditID)).stages[0]!.requestObject as { data: Record<string, string> };
    expect(Object.getOwnPropertyDescriptor(cm.data, '__proto__')?.value).to.equal('kept');

    expect((await runCli(['retention', 'run'], env)).status).to.equal(0);
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    const archives = join(dir, 'archive');
    expect(existsSync(archives)).to.equal(true);
    const files = [
      ...['k.db', 'k.db-wal'].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f))),
      ...readdirSync(archives).map((f) => (f.endsWith('.gz') ? gunzipSync(readFileSync(join(archives, f))) : readFileSync(join(archives, f)))),
      Buffer.from(logs()),
    ];
    expect(files.length).to.be.greaterThan(3);
    for (const bytes of files) for (const secret of [SECRET, DATA, APPLIED]) expect(bytes.includes(secret), secret).to.equal(false);
  });
});
