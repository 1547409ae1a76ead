import { systemClock } from '../../../services/cli/clock.js';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { StoreWriter } from '../../../shared/storage/sqlite/write/storeWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { ingestFiles, type IngestSummary } from '../../../services/ingest/files.js';
import { testPipeline, CLI, cliEnv, corpusDir, makeEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

async function ingestInto(db: string, files: string[]): Promise<IngestSummary> {
  const writer = await StoreWriter.open(db, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
  try {
    return await ingestFiles(files, { pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, cluster: 'c1', batchEvents: 3 });
  } finally {
    await writer.close();
  }
}

function kubetrail(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', env: cliEnv() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('file ingest', () => {
  const dir = tempDir();
  const lines = (events: unknown[]) => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

  it('stores JSON lines, quarantines a bad line by file:line, and stores nothing new the second time', async () => {
    const events = Array.from({ length: 7 }, () => makeEvent());
    const file = join(dir, 'audit.log');
    const text = lines(events.slice(0, 3)) + '{"kind":"Event","auditID":\n' + '\n' + lines(events.slice(3));
    writeFileSync(file, text);
    const db = join(dir, 'lines.db');
    const first = await ingestInto(db, [file]);
    expect(first).to.deep.include({ read: 8, stored: 7, duplicates: 0, quarantined: 1, bytes: Buffer.byteLength(text) });
    expect(first.firstRejected).to.have.length(1);
    expect(first.firstRejected[0]!.position).to.equal(`${file}:4`);
    expect(first.firstRejected[0]!.reason).to.match(/^not JSON: /);
    const second = await ingestInto(db, [file]);
    expect(second).to.deep.include({ read: 8, stored: 0, duplicates: 7, conflicts: 0, quarantined: 1 });
  });

  it('reads a pretty-printed EventList, a JSON array, gzipped JSON lines and a last line without a newline', async () => {
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => makeEvent());
    const list = join(dir, 'list.json');
    writeFileSync(list, JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [a, b] }, null, 2));
    const array = join(dir, 'array.json');
    writeFileSync(array, '\n\n' + JSON.stringify([c], null, 1));
    const gz = join(dir, 'audit.log.1.gz');
    writeFileSync(gz, gzipSync(lines([d]) + JSON.stringify(e)));
    const db = join(dir, 'docs.db');
    const summary = await ingestInto(db, [list, array, gz]);
    expect(summary).to.deep.include({ read: 5, stored: 5, quarantined: 0 });
    const store = openStore(db, { readonly: true });
    expect([...queryActions(store.db, {})].map((s) => s.event.auditID)).to.have.members([a, b, c, d, e].map((x) => x!.auditID));
    store.close();
  });

  it('reports a file it cannot read, and still stores the others and what it read of it', async () => {
    const [a, b, c] = Array.from({ length: 3 }, () => makeEvent());
    const good = join(dir, 'good.log');
    writeFileSync(good, lines([a]));
    const whole = gzipSync(lines([b]) + lines(Array.from({ length: 2000 }, () => makeEvent())));
    const truncated = join(dir, 'truncated.log.gz');
    writeFileSync(truncated, whole.subarray(0, whole.length - 200));
    const after = join(dir, 'after.log');
    writeFileSync(after, lines([c]));
    const db = join(dir, 'unreadable.db');
    const s = await ingestInto(db, [good, join(dir, 'missing.log'), truncated, after]);
    expect(s.unreadable.map((u) => u.file)).to.deep.equal([join(dir, 'missing.log'), truncated]);
    expect(s.unreadable[0]!.reason).to.match(/^cannot read it \(ENOENT/);
    expect(s.unreadable[1]!.reason).to.match(/^cannot read it \(unexpected end of file\)/);
    expect(s.stored).to.be.greaterThan(3);
    const store = openStore(db, { readonly: true });
    const ids = [...queryActions(store.db, {})].map((x) => x.event.auditID);
    store.close();
    expect(ids).to.include.members([a!.auditID, b!.auditID, c!.auditID]);
  });

  it('keeps the valid lines of a file whose first line is broken', async () => {
    const events = Array.from({ length: 3 }, () => makeEvent());
    const file = join(dir, 'broken-first.log');
    writeFileSync(file, JSON.stringify(makeEvent()).slice(0, 120) + '\n' + lines(events));
    const s = await ingestInto(join(dir, 'broken-first.db'), [file]);
    expect(s).to.deep.include({ read: 4, stored: 3, quarantined: 1 });
    expect(s.firstRejected[0]!.position).to.equal(`${file}:1`);
  });

  it('stores or quarantines every file of the shared corpus, each with a clear reason', async function () {
    const corpus = corpusDir(this);
    if (!corpus) return;
    const falco = readdirSync(join(corpus, 'audit', 'falco')).filter((f) => f.endsWith('.json'));
    expect(falco.length).to.be.greaterThan(40);
    for (const [i, name] of falco.entries()) {
      const s = await ingestInto(join(dir, `falco-${i}.db`), [join(corpus, 'audit', 'falco', name)]);
      if (name === 'fal_01_003.json') {
        expect(s, name).to.deep.include({ stored: 0, quarantined: 1 });
        expect(s.firstRejected[0]!.reason).to.equal('kind: expected "Event" or "EventList", got 0');
      } else {
        expect(s.quarantined, `${name}: ${JSON.stringify(s.firstRejected)}`).to.equal(0);
        expect(s.stored, name).to.equal(s.read).and.be.greaterThan(0);
      }
    }
    const cloud = (f: string) => join(corpus, 'audit', 'cloud', f);
    // The managed providers' records are read as the Events they carry (shared/audit/cloud).
    const aks = await ingestInto(join(dir, 'aks.db'), [cloud('aks-kube-audit.jsonl')]);
    expect(aks).to.deep.include({ stored: 1, quarantined: 0, skipped: 0 });
    const gke = await ingestInto(join(dir, 'gke.db'), [cloud('gke-anonymous-probe.jsonl')]);
    expect(gke).to.deep.include({ stored: 1, quarantined: 0 });
    // Three raw Events share one auditID and stage. The first was received at another time: a
    // request of its own. The other two are the same event twice, so the second is a duplicate.
    // Then a GKE and an AKS record, in the clusters they name.
    const mixed = await ingestInto(join(dir, 'mixed.db'), [cloud('mixed-raw-gke-aks.jsonl')]);
    expect(mixed).to.deep.include({ read: 5, stored: 4, duplicates: 1, conflicts: 0, quarantined: 0 });
  });
});

describe('kubetrail ingest of managed clusters\' audit logs (EKS, GKE, AKS) as delivered', () => {
  const dir = tempDir();
  const fixture = (f: string) => join(process.cwd(), 'test', 'fixtures', 'cloud', f);
  const json = (args: string[]) => {
    const r = kubetrail(args);
    expect(r.code, r.stderr).to.be.oneOf([0, 2]);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  it('stores each provider\'s events in the cluster its records name, skipping what is not audit input; detections and recommendations work on them', () => {
    const db = join(dir, 'managed.db');
    const summaries = ['eks-subscription.json.b64', 'gke-gcloud-read.json', 'aks-event-hub.json'].map((f) => json(['ingest', fixture(f), '--db', db, '--output', 'json']));
    expect(summaries.map((s) => [s.stored, s.quarantined, s.skipped])).to.deep.equal([[2, 1, 0], [4, 0, 1], [2, 0, 2]]);
    const events = kubetrail(['events', '--db', db, '--limit', '0', '--output', 'ndjson', '--since', '2026-11-01T00:00:00Z']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { cluster: string; verb: string });
    expect(events.map((e) => e.cluster).sort()).to.deep.equal(['ORDERS-AKS', 'ORDERS-AKS', 'prod-eu', 'prod-eu', 'shop-eu', 'shop-eu', 'shop-eu', 'shop-eu']);
    const alerts = JSON.parse(kubetrail(['alerts', '--db', db, '--output', 'json']).stdout) as { rule: string; cluster: string; person: string | null }[];
    expect(alerts.map((a) => `${a.cluster} ${a.rule} ${a.person}`).sort()).to.include.members(['prod-eu secret-read alice@example.com', 'shop-eu pod-exec-attach-portforward bob@example.com']);
    // From what carol did in the AKS cluster: a Role to patch and get that Deployment.
    const rec = kubetrail(['rbac', 'recommend', '--db', db, '--cluster', 'ORDERS-AKS', '--user', 'carol@contoso.com', '--since', '2026-11-01T00:00:00Z', '--until', '2026-11-03T00:00:00Z']);
    expect(rec.code, rec.stderr).to.equal(0);
    expect(rec.stdout).to.contain('kind: Role').and.contain('deployments').and.contain('patch');
  });

  it('puts every event in the cluster --cluster names, when it is given', () => {
    const db = join(dir, 'given.db');
    json(['ingest', fixture('aks-storage.jsonl'), '--db', db, '--cluster', 'orders', '--output', 'json']);
    const clusters = kubetrail(['events', '--db', db, '--limit', '0', '--output', 'ndjson', '--since', '2026-11-01T00:00:00Z']).stdout.trim().split('\n').map((l) => (JSON.parse(l) as { cluster: string }).cluster);
    expect(clusters).to.deep.equal(['orders', 'orders']);
  });
});

describe('kubetrail ingest and events (CLI)', () => {
  const dir = tempDir();
  const db = join(dir, 'cli.db');

  it('ingests from stdin, prints a JSON summary, exits 2 when something was quarantined', () => {
    const good = makeEvent({ user: { username: 'dave' }, verb: 'delete' });
    const r = kubetrail(['ingest', '-', '--db', db, '--cluster', 'lab', '--output', 'json'], JSON.stringify(good) + '\nnot json\n');
    expect(r.code, r.stderr).to.equal(2);
    const summary = JSON.parse(r.stdout);
    expect(summary).to.deep.include({ read: 2, stored: 1, duplicates: 0, quarantined: 1 });
    expect(summary.firstRejected[0].position).to.equal('stdin:2');
    const again = kubetrail(['ingest', '-', '--db', db, '--cluster', 'lab'], JSON.stringify(good) + '\n');
    expect(again.code).to.equal(0);
    expect(again.stdout).to.match(/^read 1, stored 0, duplicates 1, quarantined 0/);
  });

  it('answers who-did-what with filters, in every output format', () => {
    const events = [
      makeEvent({ user: { username: 'erin', groups: ['ops'] }, verb: 'delete', requestReceivedTimestamp: '2026-07-01T00:00:00.000001Z' }),
      makeEvent({ user: { username: 'erin', groups: ['ops'] }, verb: 'get', requestReceivedTimestamp: '2026-07-02T00:00:00.000002Z' }),
      makeEvent({ user: { username: 'frank' }, verb: 'get', annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } }),
    ];
    const file = join(dir, 'who.log');
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n'));
    expect(kubetrail(['ingest', file, '--db', db, '--cluster', 'lab']).code).to.equal(0);

    const json = JSON.parse(kubetrail(['events', '--db', db, '--user', 'erin', '--output', 'json']).stdout);
    expect(json.map((r: { auditID: string }) => r.auditID)).to.deep.equal([events[1]!.auditID, events[0]!.auditID]);
    expect(json[0]).to.deep.equal({
      auditID: events[1]!.auditID, time: '2026-07-02T00:00:00.000002Z', cluster: 'lab', stage: 'ResponseComplete', verb: 'get',
      user: 'erin', groups: ['ops'], impersonatedUser: null, effectiveUser: 'erin', actorKind: 'human', person: null, checkout: null, credential: 'unknown', sourceIP: '10.0.0.7', userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
      apiGroup: '', resource: 'pods', subresource: '', namespace: 'team-a', name: 'web-1', requestURI: '/api/v1/namespaces/team-a/pods/web-1', command: null,
      code: 200, decision: 'allow', decisionSource: 'annotation', reason: 'RBAC: allowed by RoleBinding "dev/team-a" of ClusterRole "edit" to Group "dev"',
    });
    const nd = kubetrail(['events', '--db', db, '--decision', 'forbid', '--output', 'ndjson']).stdout.trim().split('\n');
    expect(nd.map((l) => JSON.parse(l).user)).to.deep.equal(['frank']);
    const csv = kubetrail(['events', '--db', db, '--verb', 'delete', '--user', 'erin', '--output', 'csv']).stdout.trim().split('\n');
    expect(csv[0]).to.match(/^time,cluster,auditID,stage,verb,user,groups,/);
    expect(csv).to.have.length(2);
    expect(csv[1]).to.contain(events[0]!.auditID);
    const table = kubetrail(['events', '--db', db, '--user', 'erin', '--until', '2026-07-01T12:00:00Z']).stdout.trim().split('\n');
    expect(table).to.have.length(2);
    expect(table[0]).to.match(/^TIME\s+CLUSTER\s+AUDITID/);
    expect(kubetrail(['events', '--db', db, '--limit', '1', '--output', 'ndjson']).stdout.trim().split('\n')).to.have.length(1);
  });

  it('exits 2 with a message naming the flag for bad input', () => {
    const r = kubetrail(['events', '--db', db, '--since', 'last tuesday']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("--since: expected a duration (90s, 15m, 24h, 30d, 2w) or an RFC 3339 time, got 'last tuesday'");
    expect(kubetrail(['events', '--db', db, '--resource', 'Pods!']).stderr).to.contain('--resource: expected RESOURCE[.GROUP][/SUBRESOURCE]');
    expect(kubetrail(['events', '--db', join(dir, 'nope.db')]).stderr).to.contain('no database yet');
  });
});
