import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { aggregateClusterRoles, selectorMatches } from '../../../shared/rbac/aggregate.js';
import { diffStates } from '../../../shared/rbac/diffStates.js';
import { loadFiles } from '../../../shared/rbac/loadFiles.js';
import { parseObjects } from '../../../shared/rbac/parseObjects.js';
import { parseResourceArg } from '../../../shared/rbac/resourceArg.js';
import type { ApiResourceInfo, ClusterRole, PolicyRule } from '../../../shared/rbac/types.js';
import { tempDir } from '../../helpers.js';

const MULTI_DOC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: team-a}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-rbac, namespace: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: Group, name: dev, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: ci}
`;

const rule = (verbs: string[], resources: string[]): PolicyRule => ({ verbs, apiGroups: [''], resources, resourceNames: [], nonResourceURLs: [] });

describe('RBAC: reading objects', () => {
  it('reads multi-document YAML, counts other kinds and fills absent fields', () => {
    const r = parseObjects(MULTI_DOC, 'team-a.yaml');
    expect(r.problems).to.deep.equal([]);
    expect(r.skipped).to.deep.equal({ ConfigMap: 1 });
    expect(r.state.roles).to.deep.equal([{ name: 'reader', namespace: 'team-a', labels: {}, rules: [rule(['get', 'list'], ['pods'])] }]);
    expect(r.state.roleBindings[0]!.subjects[1]).to.deep.equal({ kind: 'ServiceAccount', name: 'ci', namespace: '', apiGroup: '' });
  });

  it('reads a v1 List and a typed list, whose items carry no kind (kubectl get -o json, the API)', () => {
    const typed = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleList', metadata: {}, items: [{ metadata: { name: 'a' }, rules: null }] };
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'x' } }, typed] };
    const r = parseObjects(JSON.stringify(list), 'all.json');
    expect(r.problems).to.deep.equal([]);
    expect(r.state.clusterRoles).to.deep.equal([{ name: 'a', labels: {}, rules: [] }]);
    expect(r.state.serviceAccounts).to.deep.equal([{ name: 'sa', namespace: 'x' }]);
  });

  it('reports each malformed object with its file, document and item, and keeps the rest', () => {
    const text = `kind: List
apiVersion: v1
items:
- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: ok}, rules: [{verbs: [get], apiGroups: [""], resources: [pods]}]}
- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: bad}, rules: [{verbs: get}]}
- {apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: nons}, roleRef: {kind: Role, name: r}}
- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: noref}}
- 42
---
{not: [valid
`;
    const r = parseObjects(text, 'mixed.yaml');
    expect(r.state.clusterRoles.map((c) => c.name)).to.deep.equal(['ok']);
    expect(r.problems).to.deep.equal([
      { position: 'mixed.yaml: document 1, item 2 (ClusterRole "bad")', reason: 'rules[0].verbs: expected a list, got string "get"' },
      { position: 'mixed.yaml: document 1, item 3 (RoleBinding "nons")', reason: 'metadata.namespace: a RoleBinding needs one' },
      { position: 'mixed.yaml: document 1, item 4 (ClusterRoleBinding "noref")', reason: 'roleRef: expected an object with kind and name, got nothing' },
      { position: 'mixed.yaml: document 1, item 5', reason: 'expected a Kubernetes object, got number 42' },
      { position: 'mixed.yaml: document 2', reason: r.problems[4]!.reason },
    ]);
    expect(r.problems[4]!.reason).to.match(/^not YAML or JSON: /);
  });

  it('reads folders recursively and reports an object defined twice, using the later one', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'a.yaml'), MULTI_DOC);
    writeFileSync(join(dir, 'sub', 'b.json'), JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader', namespace: 'team-a' }, rules: [] }));
    writeFileSync(join(dir, 'notes.txt'), 'not read');
    const r = loadFiles([dir]);
    expect(r.files).to.deep.equal([join(dir, 'a.yaml'), join(dir, 'sub', 'b.json')]);
    expect(r.state.roles).to.have.length(1);
    expect(r.state.roles[0]!.rules).to.deep.equal([]);
    expect(r.problems).to.deep.equal([{ position: join(dir, 'sub', 'b.json'), reason: `Role team-a/reader is defined again (first in ${join(dir, 'a.yaml')}); the later definition is used` }]);
    expect(() => loadFiles([join(dir, 'missing.yaml')])).to.throw(/missing\.yaml: no such file or folder/);
  });
});

describe('RBAC: aggregation', () => {
  const role = (name: string, labels: Record<string, string>, rules: PolicyRule[], selectors?: Record<string, string>[]): ClusterRole => ({
    name,
    labels,
    rules,
    ...(selectors ? { aggregationRule: { clusterRoleSelectors: selectors.map((matchLabels) => ({ matchLabels, matchExpressions: [] })) } } : {}),
  });

  it('flows rules through chains of aggregated roles to a fixpoint, without duplicates', () => {
    const { clusterRoles, pending } = aggregateClusterRoles([
      role('admin', {}, [], [{ 'to-admin': 'true' }]),
      role('edit', { 'to-admin': 'true' }, [rule(['create'], ['pods'])], [{ 'to-edit': 'true' }]),
      role('view', { 'to-edit': 'true' }, [], [{ 'to-view': 'true' }]),
      role('crd-view', { 'to-view': 'true' }, [rule(['get'], ['widgets'])]),
      role('crd-view-2', { 'to-view': 'true' }, [rule(['get'], ['widgets'])]),
    ]);
    const rules = (n: string) => clusterRoles.find((r) => r.name === n)!.rules;
    expect(rules('view')).to.deep.equal([rule(['get'], ['widgets'])]);
    expect(rules('edit')).to.deep.equal([rule(['get'], ['widgets'])]);
    expect(rules('admin')).to.deep.equal([rule(['get'], ['widgets'])]);
    expect(pending).to.deep.equal(['admin', 'edit', 'view']);
  });

  it('matches label selectors with matchExpressions, and an empty selector matches every role', () => {
    const labels = { tier: 'web', env: 'prod' };
    const sel = (matchExpressions: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }[]) => ({ matchLabels: {}, matchExpressions });
    expect(selectorMatches(sel([{ key: 'tier', operator: 'In', values: ['web', 'db'] }]), labels)).to.equal(true);
    expect(selectorMatches(sel([{ key: 'tier', operator: 'NotIn', values: ['web'] }]), labels)).to.equal(false);
    expect(selectorMatches(sel([{ key: 'team', operator: 'NotIn', values: ['x'] }]), labels)).to.equal(true);
    expect(selectorMatches(sel([{ key: 'env', operator: 'Exists', values: [] }]), labels)).to.equal(true);
    expect(selectorMatches(sel([{ key: 'env', operator: 'DoesNotExist', values: [] }]), labels)).to.equal(false);
    expect(selectorMatches(sel([]), labels)).to.equal(true);
  });
});

describe('RBAC: diff and resource arguments', () => {
  it('names objects added, removed and changed, with the rules and subjects that changed', () => {
    const a = parseObjects(MULTI_DOC, 'a').state;
    const b = structuredClone(a);
    b.roles[0]!.rules.push(rule(['delete'], ['pods']));
    b.roleBindings[0]!.subjects.pop();
    b.clusterRoles.push({ name: 'new', labels: {}, rules: [] });
    expect(diffStates(a, b)).to.deep.equal([
      { change: 'added', kind: 'ClusterRole', namespace: '', name: 'new', details: [] },
      { change: 'changed', kind: 'Role', namespace: 'team-a', name: 'reader', details: ['+ rule delete pods (core)'] },
      { change: 'changed', kind: 'RoleBinding', namespace: 'team-a', name: 'readers', details: ['- subject ServiceAccount ci'] },
    ]);
    expect(diffStates(b, a)[0]).to.deep.include({ change: 'removed', name: 'new' });
  });

  it("reads kubectl's RESOURCE[.GROUP][/NAME], resolving short names against discovery", () => {
    const d = (apiGroup: string, resource: string, kind: string, shortNames: string[] = []): ApiResourceInfo => ({ apiGroup, version: 'v1', resource, kind, namespaced: true, verbs: ['get'], shortNames, singularName: kind.toLowerCase() });
    const discovery = [d('', 'pods', 'Pod', ['po']), d('apps', 'deployments', 'Deployment', ['deploy']), d('coordination.k8s.io', 'leases', 'Lease')];
    expect(parseResourceArg('deployments.apps')).to.deep.equal({ kind: 'resource', apiGroup: 'apps', resource: 'deployments', name: '' });
    expect(parseResourceArg('leases.coordination.k8s.io/kube-scheduler')).to.deep.equal({ kind: 'resource', apiGroup: 'coordination.k8s.io', resource: 'leases', name: 'kube-scheduler' });
    expect(parseResourceArg('/healthz')).to.deep.equal({ kind: 'url', path: '/healthz' });
    expect(parseResourceArg('deploy', discovery)).to.deep.include({ apiGroup: 'apps', resource: 'deployments' });
    expect(parseResourceArg('Pod/web', discovery)).to.deep.equal({ kind: 'resource', apiGroup: '', resource: 'pods', name: 'web' });
    expect(parseResourceArg('leases', discovery)).to.deep.include({ apiGroup: 'coordination.k8s.io' });
    expect(() => parseResourceArg('pods/a/b')).to.throw(/expected RESOURCE\[\.GROUP\]\[\/NAME\]/);
  });
  it('reports YAML whose alias names an anchor not yet set, instead of throwing (found by fuzzing)', () => {
    const r = parseObjects('kind: ClusterRole\nmetadata: {name: r}\nrules: *later\nx: &later []', 'odd.yaml');
    expect(r.problems).to.have.length(1);
    expect(r.problems[0]!.reason).to.match(/^not YAML or JSON/);
  });
});
