import { systemClock } from '../../../services/cli/clock.js';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { recordGapEvent } from '../../../shared/storage/sqlite/tables/pipelineGaps.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { isPostgresUrl, openPgStore } from '../../../shared/storage/postgres/pgStore.js';
import { recordPgGapEvent } from '../../../shared/storage/postgres/pgPipelineWatch.js';
import { cliEnv, makeEvent, onEachBackend, runCli, tempDir } from '../../helpers.js';

const DAY = 86_400_000;

onEachBackend('kubetrail pci evidence: the folder an assessor reads', (db) => {
  const dir = tempDir();
  const out = join(dir, 'evidence');
  let env: NodeJS.ProcessEnv;

  before(async function () {
    if (!db()) this.skip();
    env = cliEnv({ KUBETRAIL_DB: db(), KUBETRAIL_CONFIG: join(dir, 'kubetrail.yaml') });
    writeFileSync(join(dir, 'kubetrail.yaml'), 'cluster: prod\n');
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString().replace('Z', '000Z');
    const ev = (daysAgo: number, o: Record<string, unknown>) => JSON.stringify(makeEvent({ requestReceivedTimestamp: at(daysAgo), stageTimestamp: at(daysAgo), ...o }));
    // Through kubetrail ingest, so that the detections raise their alerts.
    writeFileSync(join(dir, 'events.jsonl'), [
      ev(200, {}),
      ev(5, { objectRef: { resource: 'secrets', namespace: 'payments', name: 'db-password', apiVersion: 'v1' }, requestURI: '/api/v1/namespaces/payments/secrets/db-password' }),
      ev(4, { user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }, verb: 'create', objectRef: { resource: 'namespaces', name: 'tmp', apiVersion: 'v1' }, requestURI: '/api/v1/namespaces', responseStatus: { metadata: {}, code: 201 } }),
      ev(3, { responseStatus: { metadata: {}, code: 403 }, annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } }),
    ].join('\n'));
    const ingest = await runCli(['ingest', join(dir, 'events.jsonl')], env);
    expect(ingest.status, ingest.stderr).to.equal(0);
    const gap = { type: 'open', cluster: 'prod', source: 'webhook', kind: 'silence', startedAt: Date.now() - 2 * DAY, detectedAt: Date.now() - 2 * DAY + 600_000, expectedPerWindow: 900, seen: 0 } as const;
    if (isPostgresUrl(db())) {
      const store = await openPgStore(db(), { clock: systemClock });
      await recordPgGapEvent(store.pool, gap, 600_000);
      await store.close();
    } else {
      const store = openStore(db(), { clock: systemClock });
      recordGapEvent(store.db, gap, 600_000);
      store.close();
    }
    writeFileSync(join(dir, 'rbac.yaml'), 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n');
    for (const args of [['rbac', 'load', join(dir, 'rbac.yaml')], ['review', 'export'], ['review', 'record', '--subject', 'carol', '--decision', 'remove', '--reviewer', 'omar'], ['retention', 'run']]) {
      const r = await runCli(args, env);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
  });

  it('writes an index whose every link resolves, each item naming its requirement, with the scope limit', async () => {
    const r = await runCli(['pci', 'evidence', '--out', out, '--since', '30d'], env);
    expect(r.status, r.stderr).to.equal(0);
    const index = readFileSync(join(out, 'index.md'), 'utf8');
    expect(index).to.contain('kubetrail sees Kubernetes API requests only');
    const links = [...index.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).to.be.at.least(12);
    for (const link of links) {
      const path = join(out, link);
      expect(existsSync(path), link).to.equal(true);
      expect(statSync(path).size, link).to.be.greaterThan(0);
    }
    for (const req of ['10.2.1.1', '10.2.1.2', '10.2.1.4', '10.2.1.7', '10.2.2', '10.3.4', '10.5.1', '10.4.3', '10.7.2', '7.2.4', '8.2.6', '8.2.2', '10.2.1.3']) expect(index, req).to.contain(req);
    expect(dirname(links[0]!)).to.equal('samples');
  });

  it('holds what each requirement asks for', () => {
    const secret = JSON.parse(readFileSync(join(out, 'samples', '10.2.1.1.json'), 'utf8'));
    expect(Object.keys(secret.records[0])).to.include.members(['user identification', 'type of event', 'date and time (UTC)', 'success or failure', 'origination of event', 'affected data, component or resource']);
    expect(secret.records[0]['affected data, component or resource']).to.include({ namespace: 'payments', name: 'db-password' });
    expect(JSON.parse(readFileSync(join(out, 'samples', '10.2.1.7.json'), 'utf8')).records[0]['type of event']).to.equal('create namespaces');
    expect(readFileSync(join(out, 'integrity-verify.md'), 'utf8')).to.contain('Result: **OK**').and.contain('archived days');
    expect(readFileSync(join(out, 'retention.md'), 'utf8')).to.match(/\| \d{4}-\d{2}-\d{2} \| archived \| 1 \| `[0-9a-f]{64}` \|/);
    expect(readFileSync(join(out, 'access-review.md'), 'utf8')).to.match(/\| User carol \|.*\| remove \| omar \|/);
    expect(readFileSync(join(out, 'pipeline-gaps.csv'), 'utf8')).to.contain('prod,webhook,silence');
    expect(readFileSync(join(out, 'idle-accounts.csv'), 'utf8')).to.contain('carol');
    expect(readFileSync(join(out, 'alerts.csv'), 'utf8')).to.contain('unattributed-break-glass');
    expect(readFileSync(join(out, 'self-audit.csv'), 'utf8')).to.contain('review export');
  });
});
