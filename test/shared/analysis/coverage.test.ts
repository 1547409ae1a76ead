import { expect } from 'chai';
import { evaluateCoverage, usageDegradations, type CoverageStats } from '../../../shared/analysis/coverage.js';

/** A cluster whose policy records everything kubetrail reads (deploy/audit-policy.yaml). */
const FULL: CoverageStats = {
  events: 1000, levels: [0, 700, 250, 50], reads: 600, writes: 300, writesWithBody: 300, workloadWrites: 40, workloadWritesWithBody: 40,
  rbacWrites: 5, rbacWritesWithBody: 5, withReason: 990, users: 30, usersWithGroups: 30,
};
const state = (s: CoverageStats) => Object.fromEntries(evaluateCoverage(s).filter((i) => i.state !== 'working').map((i) => [i.name, i.state]));

describe('coverage: what the audit log lets kubetrail see', () => {
  it('calls everything working when the policy records reads, bodies of writes, reasons and groups', () => {
    expect(state(FULL)).to.deep.equal({});
    expect(evaluateCoverage(FULL).every((i) => i.fix === null && i.why.length === 0)).to.equal(true);
  });

  it('GKE: no groups make system-masters-use blind and the report degraded, saying why', () => {
    const gke = { ...FULL, usersWithGroups: 0 };
    expect(state(gke)).to.deep.equal({ 'system-masters-use': 'blind', 'rbac report': 'degraded' });
    expect(usageDegradations(evaluateCoverage(gke), 'rbac report')).to.deep.equal(['no groups recorded: grants through group bindings are credited by the reason annotation only']);
  });

  it('AKS kube-audit-admin (no reads): secret-read blind, unused reads not judged, stale accounts suspect', () => {
    const admin = { ...FULL, reads: 0 };
    expect(state(admin)).to.deep.equal({
      'secret-read': 'blind', 'secret-list-broad': 'blind', 'secret-read-burst': 'blind', 'secret-read-generic-client': 'blind', 'resource-sweep': 'blind',
      'rbac-change-then-use': 'degraded', 'rbac report': 'degraded', 'rbac recommend': 'degraded', 'rbac stale': 'degraded',
    });
    expect(usageDegradations(evaluateCoverage(admin), 'rbac report')[0]).to.equal('reads are not recorded for this cluster: unused read permissions cannot be judged');
    expect(evaluateCoverage(admin).find((i) => i.name === 'secret-read')!.fix).to.match(/kube-audit category/);
  });

  it('a Metadata-only policy hides pod specs and RBAC rules: privileged-workload and rbac-escalation blind; some bodies missing is degraded', () => {
    expect(state({ ...FULL, levels: [0, 1000, 0, 0], writesWithBody: 0, workloadWritesWithBody: 0, rbacWritesWithBody: 0 })).to.deep.equal({
      'rbac-escalation': 'blind', 'privileged-workload': 'blind', 'untrusted-image-registry': 'blind', 'workload-container-patch': 'blind', 'exposed-service': 'blind',
    });
    const some = evaluateCoverage({ ...FULL, workloadWritesWithBody: 30 }).find((i) => i.name === 'privileged-workload')!;
    expect(some).to.deep.include({ state: 'degraded', why: ['10 of 40 pod and workload writes without their request bodies'] });
  });

  it('cannot vouch for what the window never shows, and is blind without events', () => {
    expect(state({ ...FULL, rbacWrites: 0, rbacWritesWithBody: 0 })).to.deep.equal({ 'rbac-escalation': 'degraded' });
    const none = evaluateCoverage({ ...FULL, events: 0 });
    expect(none.every((i) => i.state === 'blind')).to.equal(true);
  });
});
