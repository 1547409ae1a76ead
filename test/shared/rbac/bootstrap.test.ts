import { join } from 'node:path';
import { expect } from 'chai';
import { ruleKey } from '../../../shared/rbac/aggregate.js';
import { Authorizer } from '../../../shared/rbac/authorizer.js';
import { loadFiles } from '../../../shared/rbac/loadFiles.js';
import { impersonatedUser } from '../../../shared/rbac/subjects.js';
import type { RequestAttributes, UserAttributes } from '../../../shared/rbac/types.js';
import { corpusDir } from '../../helpers.js';
import { resourceRequest } from './requests.js';

const res = resourceRequest;
const url = (user: UserAttributes, verb: string, path: string): RequestAttributes => ({ user, verb, resourceRequest: false, path });

describe('RBAC: the bootstrap corpus (default cluster RBAC)', function () {
  let authz: Authorizer;
  let problems: unknown[];

  before(function () {
    const dir = corpusDir(this);
    if (!dir) return;
    const loaded = loadFiles([join(dir, 'rbac', 'bootstrap')]);
    problems = loaded.problems;
    authz = new Authorizer(loaded.state);
  });

  it('loads every object of the six files, and nothing else', () => {
    expect(problems).to.deep.equal([]);
    const s = authz.state;
    // Counts from SOURCE.md: 31 + 38 ClusterRoles, 10 + 27 ClusterRoleBindings, 7 Roles, 7 RoleBindings.
    expect([s.clusterRoles.length, s.clusterRoleBindings.length, s.roles.length, s.roleBindings.length]).to.deep.equal([69, 37, 7, 7]);
  });

  it('aggregates admin ⊇ edit ⊇ view, and view holds no secrets', () => {
    const rules = (name: string) => new Set(authz.clusterRoles.get(name)!.rules.map(ruleKey));
    const [admin, edit, view] = [rules('admin'), rules('edit'), rules('view')];
    expect(view.size).to.be.greaterThan(5);
    for (const r of view) expect(edit.has(r), `edit has view's ${r}`).to.equal(true);
    for (const r of edit) expect(admin.has(r), `admin has edit's ${r}`).to.equal(true);
    expect(edit.size).to.be.greaterThan(view.size);
    expect(admin.size).to.be.greaterThan(edit.size);
    const viewRules = authz.clusterRoles.get('view')!.rules;
    expect(viewRules.some((r) => r.resources.includes('secrets') || r.resources.includes('*'))).to.equal(false);
    expect(authz.clusterRoles.get('edit')!.rules.some((r) => r.resources.includes('secrets'))).to.equal(true);
  });

  it('reports the stored-empty aggregated roles as aggregation pending', () => {
    expect(authz.aggregationPending).to.include.members(['admin', 'edit', 'view']);
  });

  it('answers what the apiserver answers for the default bindings', () => {
    const someone = impersonatedUser('alice');
    const anonymous = impersonatedUser('system:anonymous');
    const cases: [string, RequestAttributes, boolean, string?][] = [
      [
        'system:basic-user may create selfsubjectaccessreviews',
        res(someone, 'create', 'selfsubjectaccessreviews', { apiGroup: 'authorization.k8s.io' }),
        true,
        'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"',
      ],
      [
        'system:anonymous may get /healthz through system:public-info-viewer',
        url(anonymous, 'get', '/healthz'),
        true,
        'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"',
      ],
      ['system:anonymous may not list pods', res(anonymous, 'list', 'pods', { namespace: 'default' }), false, ''],
      ['an authenticated user may get /apis through system:discovery', url(someone, 'get', '/apis/apps/v1'), true],
      ['an authenticated user may not read secrets', res(someone, 'get', 'secrets', { namespace: 'default', name: 's' }), false],
      ['the kube-scheduler may bind pods', res(impersonatedUser('system:kube-scheduler'), 'create', 'pods', { subresource: 'binding', namespace: 'a', name: 'p' }), true],
      ['the controller manager may get its lease through a namespace RoleBinding', res(impersonatedUser('system:kube-controller-manager'), 'get', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-system', name: 'kube-controller-manager' }), true],
      ['a system:masters member is allowed anything, before RBAC', res(impersonatedUser('kubernetes-admin', ['system:masters']), 'delete', 'nodes', { name: 'n1' }), true, ''],
    ];
    for (const [what, attrs, allowed, reason] of cases) {
      const d = authz.authorize(attrs);
      expect(d.allowed, what).to.equal(allowed);
      if (reason !== undefined) expect(d.reason, what).to.equal(reason);
    }
  });
});
