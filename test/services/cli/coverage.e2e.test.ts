import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { systemClock } from '../../../services/cli/clock.js';
import type { UsageReport } from '../../../shared/rbac/usageReport.js';
import { cliEnv, makeEvent, onEachBackend, openTestStore, parsedEvent, runCli, tempDir } from '../../helpers.js';

const fixture = (f: string) => join(process.cwd(), 'test', 'fixtures', 'cloud', f);
const SINCE = ['--since', '2026-11-01T00:00:00Z'];

onEachBackend('kubetrail coverage: what each provider\'s audit log hides', (db) => {
  const dir = tempDir();
  const cli = (...args: string[]) => runCli([...args, '--db', db()], cliEnv());
  const coverage = async (cluster: string) => {
    const r = await cli('coverage', '--cluster', cluster, ...SINCE, '--output', 'json');
    expect(r.status, r.stderr).to.equal(0);
    const items = JSON.parse(r.stdout) as { name: string; state: string; why: string }[];
    return Object.fromEntries(items.filter((i) => i.state !== 'working').map((i) => [i.name, i.state]));
  };

  before(async function () {
    if (!db()) this.skip();
    // An AKS cluster whose diagnostic setting sends kube-audit-admin only: no get and list.
    const hub = JSON.parse(readFileSync(fixture('aks-event-hub.json'), 'utf8').replace(/^\uFEFF/, '')) as { records: { category: string; resourceId: string }[] };
    const adminOnly = hub.records.filter((r) => r.category === 'kube-audit-admin').map((r) => ({ ...r, resourceId: r.resourceId.replace(/ORDERS-AKS$/, 'ADMIN-ONLY') }));
    writeFileSync(join(dir, 'admin-only.json'), JSON.stringify({ records: adminOnly }));
    for (const file of [fixture('gke-gcloud-read.json'), fixture('aks-event-hub.json'), join(dir, 'admin-only.json')]) {
      const r = await cli('ingest', file, '--output', 'json');
      expect(r.status, r.stderr).to.equal(0);
    }
  });

  it('names what each cluster\'s records cannot show: GKE no groups, AKS admin no reads, writes without bodies', async () => {
    expect(await coverage('shop-eu')).to.deep.equal({
      'system-masters-use': 'blind', 'rbac-escalation': 'blind', 'privileged-workload': 'degraded', 'untrusted-image-registry': 'degraded', 'workload-container-patch': 'degraded',
      'exposed-service': 'blind', 'rbac report': 'degraded',
    });
    expect(await coverage('ORDERS-AKS')).to.deep.equal({ 'rbac-escalation': 'degraded', 'privileged-workload': 'blind', 'untrusted-image-registry': 'blind', 'workload-container-patch': 'blind', 'exposed-service': 'blind' });
    expect(await coverage('ADMIN-ONLY')).to.include({ 'secret-read': 'blind', 'rbac report': 'degraded', 'rbac recommend': 'degraded' });
    // No events: blind, and saying so.
    expect(Object.values(await coverage('nowhere'))).to.satisfy((states: string[]) => states.length > 0 && states.every((s) => s === 'blind'));
  });

  it('lists in the ingest status every cluster that holds events, however old their requests', async () => {
    const store = await openTestStore(db(), systemClock);
    try {
      // A cluster sending today: the old captures' clusters are listed beside it all the same.
      const now = '2026-12-05T12:00:00.000000Z';
      await store.write([{ cluster: 'live', source: 'test', events: [parsedEvent(makeEvent({ requestReceivedTimestamp: now, stageTimestamp: now }))], rejected: [] }]);
      const clusters = await store.query.status.clusters(Date.parse('2026-12-06T00:00:00Z') * 1000);
      expect(clusters.map((c) => c.cluster)).to.include.members(['live', 'shop-eu', 'ORDERS-AKS', 'ADMIN-ONLY']);
      expect(clusters.find((c) => c.cluster === 'shop-eu')!.lastEventTime).to.equal('2026-11-02T10:03:00.000000Z');
    } finally {
      await store.close();
    }
  });

  it('counts a GKE cluster\'s requests in the usage report as used by the Google user and the service account that made them', async () => {
    writeFileSync(join(dir, 'gke-rbac.yaml'), `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-ops}
rules: [{apiGroups: [""], resources: [pods/exec], verbs: [create]}, {apiGroups: [""], resources: [pods], verbs: [delete]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-ops, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-ops}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob@example.com}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-secrets, namespace: shop}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: checkout-secrets, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-secrets}
subjects: [{kind: ServiceAccount, name: checkout, namespace: shop}]
`);
    expect((await cli('rbac', 'load', join(dir, 'gke-rbac.yaml'), '--cluster', 'shop-eu')).status).to.equal(0);
    const r = await cli('rbac', 'report', ...SINCE, '--until', '2026-11-03T00:00:00Z', '--cluster', 'shop-eu', '--output', 'json');
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as UsageReport;
    const subject = (name: string) => report.subjects.find((s) => s.name === name)!;
    expect(subject('bob@example.com')).to.deep.include({ kind: 'User', active: true, granted: 2, used: 1 });
    expect(subject('bob@example.com').requests).to.include({ allowed: 1 });
    expect(subject('system:serviceaccount:shop:checkout')).to.deep.include({ kind: 'ServiceAccount', active: true, granted: 1, used: 1 });
    expect(report.window.blindSpots).to.deep.equal(['no groups recorded: grants through group bindings are credited by the reason annotation only']);
  });

  it('prints the blind spots that apply in the usage report and the recommendation', async () => {
    writeFileSync(join(dir, 'rbac.yaml'), 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: edit}\nrules: [{apiGroups: [apps], resources: [deployments], verbs: [get, list, patch]}]\n');
    expect((await cli('rbac', 'load', join(dir, 'rbac.yaml'), '--cluster', 'ADMIN-ONLY')).status).to.equal(0);
    const window = [...SINCE, '--until', '2026-11-03T00:00:00Z', '--cluster', 'ADMIN-ONLY'];
    const report = await cli('rbac', 'report', ...window);
    expect(report.status, report.stderr).to.equal(0);
    expect(report.stdout).to.contain('BLIND SPOT: reads are not recorded for this cluster: unused read permissions cannot be judged');
    const rec = await cli('rbac', 'recommend', '--user', 'carol@contoso.com', ...window);
    expect(rec.stdout).to.contain('# blind spot: reads are not recorded for this cluster: a recommendation grants no reads');
    // Where reads are recorded, no such line.
    expect((await cli('rbac', 'recommend', '--user', 'carol@contoso.com', ...SINCE, '--until', '2026-11-03T00:00:00Z', '--cluster', 'ORDERS-AKS')).stdout).to.not.contain('blind spot');
  });
});
