import { resolve } from 'node:path';
import { expect } from 'chai';
import { ruleKey } from '../../../shared/rbac/aggregate.js';
import { Authorizer } from '../../../shared/rbac/authorizer.js';
import { loadFiles } from '../../../shared/rbac/loadFiles.js';
import { impersonatedUser } from '../../../shared/rbac/subjects.js';

/** The default RBAC of a real v1.34.4 cluster (test/fixtures/rbac/SOURCE.md). */
describe('RBAC: the default RBAC recorded from a real v1.34.4 cluster', () => {
  const loaded = loadFiles([resolve(process.cwd(), 'test', 'fixtures', 'rbac', 'default-rbac-v1.34.4.json')]);
  const authz = new Authorizer(loaded.state);

  it('loads every object as the apiserver served them', () => {
    expect(loaded.problems).to.deep.equal([]);
    const s = loaded.state;
    expect([s.clusterRoles.length, s.clusterRoleBindings.length, s.roles.length, s.roleBindings.length]).to.deep.equal([68, 49, 7, 7]);
  });

  it('aggregates exactly as the aggregation controller of the cluster did: nothing pending', () => {
    expect(authz.aggregationPending).to.deep.equal([]);
    const rules = (name: string) => new Set(authz.clusterRoles.get(name)!.rules.map(ruleKey));
    for (const r of rules('view')) expect(rules('edit').has(r)).to.equal(true);
    for (const r of rules('edit')) expect(rules('admin').has(r)).to.equal(true);
  });

  it('has the bindings current releases add that the older bootstrap files lack', () => {
    const names = loaded.state.clusterRoleBindings.map((b) => b.name);
    expect(names).to.include.members(['system:monitoring', 'system:service-account-issuer-discovery']);
    const d = authz.authorize({ user: impersonatedUser('system:serviceaccount:a:b'), verb: 'get', resourceRequest: false, path: '/openid/v1/jwks' });
    expect(d.reason).to.equal('RBAC: allowed by ClusterRoleBinding "system:service-account-issuer-discovery" of ClusterRole "system:service-account-issuer-discovery" to Group "system:serviceaccounts"');
  });
});
