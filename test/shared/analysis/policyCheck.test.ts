import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { levelOf, parsePolicy } from '../../../shared/audit/policy.js';
import { checkPolicy } from '../../../shared/analysis/policyCheck.js';

const policy = (rules: string, extra = '') => parsePolicy(`apiVersion: audit.k8s.io/v1\nkind: Policy\n${extra}rules:\n${rules}`, 'p.yaml');
const states = (p: ReturnType<typeof policy>) => Object.fromEntries(checkPolicy(p).needs.filter((n) => n.state !== 'recorded').map((n) => [n.serves, n.state]));

describe('audit Policy check: what kubetrail would be blind to', () => {
  it('passes the Policy kubetrail ships (deploy/audit-policy.yaml)', () => {
    const p = parsePolicy(readFileSync(join(process.cwd(), 'deploy', 'audit-policy.yaml'), 'utf8'), 'deploy/audit-policy.yaml');
    expect(checkPolicy(p)).to.deep.equal({ needs: checkPolicy(p).needs.map((n) => ({ ...n, state: 'recorded', missed: [], fix: null })), stages: [] });
  });

  it('evaluates rules as the apiserver does: first match, resource forms, non-resource URLs, no match is None', () => {
    const p = policy(`  - level: None
    resources: [{group: "", resources: ["pods/*"]}]
  - level: Request
    resources: [{group: "apps"}]
  - level: Metadata
    nonResourceURLs: ["/api*"]
`);
    const alice = { user: 'alice', groups: [] };
    expect(levelOf(p, { ...alice, verb: 'create', resource: { group: '', resource: 'pods', subresource: 'exec' } }).level).to.equal('None');
    // pods/* is every subresource of pods, not pods itself: no later rule takes pods either.
    expect(levelOf(p, { ...alice, verb: 'get', resource: { group: '', resource: 'pods' } })).to.deep.include({ level: 'None', rule: -1 });
    expect(levelOf(p, { ...alice, verb: 'patch', resource: { group: 'apps', resource: 'deployments' } })).to.deep.include({ level: 'Request', rule: 1 });
    expect(levelOf(p, { ...alice, verb: 'get', path: '/apis' }).level).to.equal('Metadata');
    expect(levelOf(p, { ...alice, verb: 'get', path: '/healthz' }).level).to.equal('None');
  });

  it('a Metadata-only Policy hides RBAC and workload bodies: names them with the rule that decided and the rule to add', () => {
    const p = policy('  - level: Metadata\n');
    expect(states(p)).to.deep.equal({ 'rbac-escalation': 'blind', 'privileged-workload': 'blind' });
    const rbac = checkPolicy(p).needs.find((n) => n.serves === 'rbac-escalation')!;
    expect(rbac.missed[0]).to.equal('alice@example.com create rbac.authorization.k8s.io/roles: Metadata, rules[0]');
    expect(rbac.fix).to.contain('level: RequestResponse').and.contain('rbac.authorization.k8s.io');
  });

  it('dropping reads (as AKS kube-audit-admin does) or unauthenticated callers blinds what reads them', () => {
    const noReads = policy('  - level: None\n    verbs: ["get", "list", "watch"]\n  - level: RequestResponse\n');
    expect(states(noReads)).to.deep.equal({
      'secret-read; rbac report, recommend and stale (reads)': 'blind',
      // The default service account's list, exec by websocket (get), and a scanner's reads.
      'rbac report and recommend (writes); system-masters-use; break-glass-use; default-serviceaccount-use': 'degraded',
      'pod-exec-attach-portforward': 'degraded',
      'anonymous-allowed; anonymous-scanning': 'blind',
    });
    const noAnonymous = policy('  - level: None\n    userGroups: ["system:unauthenticated"]\n  - level: RequestResponse\n');
    expect(states(noAnonymous)).to.deep.equal({ 'anonymous-allowed; anonymous-scanning': 'blind' });
  });

  it('says what omitted stages cost, and names the file and rule of a Policy it cannot read', () => {
    expect(checkPolicy(policy('  - level: Metadata\n    verbs: [get]\n  - level: RequestResponse\n', 'omitStages: ["ResponseComplete"]\n')).stages[0]).to.match(/drops ResponseComplete/);
    expect(() => policy('  - level: Everything\n')).to.throw(/p.yaml: rules\[0\].level: expected one of None, Metadata, Request, RequestResponse/);
    expect(() => parsePolicy('kind: Pod\n', 'pod.yaml')).to.throw(/pod.yaml: expected an audit.k8s.io Policy/);
    expect(() => policy('  - level: Metadata\n', 'omitStages: ["Finished"]\n')).to.throw(/'Finished' is not a stage/);
  });
});
