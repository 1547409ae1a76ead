import { systemClock } from '../../../services/cli/clock.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { cliEnv, makeEvent, onEachBackend, openTestStore, parsedEvent, runCli, tempDir } from '../../helpers.js';

const rbac = (extra = '') => `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
${extra}`;

const bobBinding = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]
`;

onEachBackend('kubetrail review: the access-review pack and its decisions (PCI DSS 7.2.4)', (db) => {
  const dir = tempDir();
  const config = join(dir, 'kubetrail.yaml');
  const cli = (...args: string[]) => runCli(args, cliEnv({ KUBETRAIL_DB: db(), KUBETRAIL_CONFIG: config }));

  before(async function () {
    if (!db()) this.skip();
    writeFileSync(config, 'cluster: prod\nrbac:\n  minWindowDays: 3\n');
    // alice read pods every day of the last ten; she never read a secret.
    const store = await openTestStore(db(), systemClock);
    const now = Date.now();
    const events = Array.from({ length: 10 }, (_, d) =>
      makeEvent({
        requestReceivedTimestamp: new Date(now - (d + 1) * 86_400_000).toISOString(),
        stageTimestamp: new Date(now - (d + 1) * 86_400_000 + 5).toISOString(),
        user: { username: 'alice', groups: ['system:authenticated'] },
        annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "alice-reads" of ClusterRole "pod-reader" to User "alice"' },
      }),
    );
    await store.write([{ cluster: 'prod', source: 'test', events: events.map(parsedEvent), rejected: [] }]);
    await store.close();
    writeFileSync(join(dir, 'rbac.yaml'), rbac());
    const r = await cli('rbac', 'load', join(dir, 'rbac.yaml'));
    expect(r.status, r.stderr).to.equal(0);
  });

  it('exports each subject with its permissions, their last use, what is unused and dangerous, and blank decision columns', async () => {
    const json = await cli('review', 'export', '--output', 'json');
    expect(json.status, json.stderr).to.equal(0);
    const doc = JSON.parse(json.stdout);
    expect(doc).to.include({ id: 1, cluster: 'prod', previous: null });
    const alice = doc.subjects.find((s: { subject: string }) => s.subject === 'User alice');
    expect(alice.bindings).to.deep.equal(['ClusterRoleBinding alice-reads → ClusterRole pod-reader']);
    const pods = alice.permissions.find((p: { rule: string }) => p.rule.includes('pods'));
    const secrets = alice.permissions.find((p: { rule: string }) => p.rule.includes('secrets'));
    expect(pods).to.include({ used: true, requests: 10 });
    expect(pods.lastUse).to.be.a('string');
    expect(secrets).to.include({ used: false, requests: 0, lastUse: null });
    expect(secrets.danger.join(' ')).to.match(/secret/i);
    expect(alice.unused).to.be.greaterThan(0);
    expect(alice.idle).to.deep.equal({ status: 'active', days: 1 });

    const csv = (await cli('review', 'export', '--output', 'csv')).stdout.split('\r\n');
    expect(csv[0]).to.contain('decision (keep/reduce/remove),reviewer,date,note');
    expect(csv.find((l) => l.startsWith('2,User alice,'))).to.match(/,,,,$/);
    const md = (await cli('review', 'export')).stdout;
    expect(md).to.match(/^# Access review #3: cluster prod/).and.contain('Management sign-off').and.contain('## User alice').and.contain('PCI DSS **7.2.4**');
    expect(md).to.contain('kubetrail sees Kubernetes API requests only');
  });

  it('records decisions against the newest review, refusing unknown subjects and decisions', async () => {
    const ok = await cli('review', 'record', '--subject', 'alice', '--decision', 'reduce', '--reviewer', 'omar', '--note', 'drop secrets: CHG-12');
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.equal('recorded in review #3: User alice: reduce by omar\n');
    const bad = await cli('review', 'record', '--subject', 'User mallory', '--decision', 'keep', '--reviewer', 'omar');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.contain("--subject: no subject 'User mallory' in the review");
    const wrong = await cli('review', 'record', '--subject', 'alice', '--decision', 'maybe', '--reviewer', 'omar');
    expect(wrong.status).to.equal(2);
    expect(wrong.stderr).to.contain('--decision: expected keep, reduce or remove');
  });

  it('shows what changed since the last review, and the decision taken then; past reviews stay queryable', async () => {
    writeFileSync(join(dir, 'rbac.yaml'), rbac(bobBinding));
    expect((await cli('rbac', 'load', join(dir, 'rbac.yaml'))).status).to.equal(0);
    const doc = JSON.parse((await cli('review', 'export', '--output', 'json')).stdout);
    expect(doc.previous).to.include({ id: 3 });
    expect(doc.previous.decisions).to.deep.equal([{ subject: 'User alice', decision: 'reduce', reviewer: 'omar', note: 'drop secrets: CHG-12', decidedAt: doc.previous.decisions[0].decidedAt }]);
    expect(doc.changes).to.deep.include({ subject: 'User bob', change: 'new since the last review: ClusterRoleBinding bob-reads → ClusterRole pod-reader' });
    const md = (await cli('review', 'export')).stdout;
    expect(md).to.contain('## Changes since review #3').and.match(/\| User alice \|.*\| reduce \(omar\) \|/);

    const list = JSON.parse((await cli('review', 'list', '--output', 'json')).stdout);
    expect(list.map((r: { id: number; decisions: number }) => [r.id, r.decisions])).to.deep.equal([[5, 0], [4, 0], [3, 1], [2, 0], [1, 0]]);
    const shown = JSON.parse((await cli('review', 'show', '3', '--output', 'json')).stdout);
    expect(shown.find((s: { subject: string }) => s.subject === 'User alice')).to.include({ decision: 'reduce', reviewer: 'omar', note: 'drop secrets: CHG-12' });
    expect((await cli('review', 'show', '99')).stderr).to.contain('no access review #99');
  });
});
