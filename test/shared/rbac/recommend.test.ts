import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { stringify as toYaml } from 'yaml';
import { parseObjects } from '../../../shared/rbac/parseObjects.js';
import { DEFAULT_RECOMMEND_OPTIONS, dryRun, proposalManifests, recommend, withoutTarget, withProposal, type Proposal, type RecommendOptions, type Target } from '../../../shared/rbac/recommend.js';
import { emptyState, type PolicyRule, type RequestAttributes } from '../../../shared/rbac/types.js';
import { seededRandom } from '../../helpers.js';
import { resourceRequest } from './requests.js';

const alice = { name: 'alice', groups: ['system:authenticated'] };
const ALICE: Target = { kind: 'User', name: 'alice' };
const get = (resource: string, namespace = '', name = '', more: Partial<RequestAttributes> = {}) => resourceRequest(alice, 'get', resource, { namespace, name, ...more });
const url = (verb: string, path: string): RequestAttributes => ({ user: alice, verb, resourceRequest: false, path });
const NO_EXPANSION: RecommendOptions = { expandVerbs: false, expandMultiNamespace: false, expandMultiName: false };

/** The rules of a proposal, as `scope: verbs resources (group) [names]` lines. */
function rules(p: Proposal): string[] {
  const line = (scope: string, r: PolicyRule) =>
    r.nonResourceURLs.length > 0
      ? `${scope}: ${r.verbs.join(',')} ${r.nonResourceURLs.join(',')}`
      : `${scope}: ${r.verbs.join(',')} ${r.resources.join(',')} (${r.apiGroups.join(',')})${r.resourceNames.length ? ` [${r.resourceNames.join(',')}]` : ''}`;
  return [...p.clusterRoles.flatMap((c) => c.rules.map((r) => line('cluster', r))), ...p.roles.flatMap((role) => role.rules.map((r) => line(role.namespace, r)))];
}

describe('rbac recommend (least privilege from observed requests)', () => {
  it('proposes nothing when nothing was observed', () => {
    const p = recommend(ALICE, []);
    expect(proposalManifests(p)).to.deep.equal([]);
  });

  it('allows a non-resource URL exactly, by a ClusterRole', () => {
    const p = recommend(ALICE, [url('get', '/healthz'), url('get', '/version'), url('post', '/logs')]);
    expect(rules(p)).to.deep.equal(['cluster: get /healthz,/version', 'cluster: post /logs']);
    expect(p.clusterRoleBindings[0]!.subjects).to.deep.equal([{ kind: 'User', name: 'alice', namespace: '', apiGroup: 'rbac.authorization.k8s.io' }]);
  });

  it('keeps the names of named requests, or widens them to any name (--expand-multi-name)', () => {
    const requests = [get('configmaps', 'ns1', 'a'), get('configmaps', 'ns1', 'b')];
    expect(rules(recommend(ALICE, requests, NO_EXPANSION))).to.deep.equal(['ns1: get configmaps () [a,b]']);
    expect(rules(recommend(ALICE, requests, { ...NO_EXPANSION, expandMultiName: true }))).to.deep.equal(['ns1: get configmaps ()']);
    // One name alone stays named even when widening is on.
    expect(rules(recommend(ALICE, [get('configmaps', 'ns1', 'a')], { ...NO_EXPANSION, expandMultiName: true }))).to.deep.equal(['ns1: get configmaps () [a]']);
  });

  it('keeps a Role per namespace, or goes cluster-wide for an operation seen in several (--expand-multi-namespace)', () => {
    const requests = [get('pods', 'ns1'), get('pods', 'ns2'), get('services', 'ns2'), get('nodes')];
    const narrow = recommend(ALICE, requests, NO_EXPANSION);
    expect(rules(narrow)).to.deep.equal(['cluster: get nodes ()', 'ns1: get pods ()', 'ns2: get pods,services ()']);
    expect(narrow.roleBindings.map((b) => `${b.namespace}/${b.name} → ${b.roleRef.kind} ${b.roleRef.name}`)).to.deep.equal(['ns1/kubetrail:alice → Role kubetrail:alice', 'ns2/kubetrail:alice → Role kubetrail:alice']);
    expect(rules(recommend(ALICE, requests, { ...NO_EXPANSION, expandMultiNamespace: true }))).to.deep.equal(['cluster: get nodes,pods ()', 'ns2: get services ()']);
  });

  it('lets a list cover the gets of one resource when verbs are expanded', () => {
    const requests = [resourceRequest(alice, 'list', 'secrets', { namespace: 'ns1' }), get('secrets', 'ns1', 'db')];
    expect(rules(recommend(ALICE, requests, { ...NO_EXPANSION, expandVerbs: true }))).to.deep.equal(['ns1: get,list,watch secrets ()']);
    expect(rules(recommend(ALICE, requests, NO_EXPANSION))).to.deep.equal(['ns1: get secrets () [db]', 'ns1: list secrets ()']);
  });

  it('never restricts a create by name (the name is unknown when a create is authorized)', () => {
    const requests = [resourceRequest(alice, 'create', 'pods', { namespace: 'ns1', name: 'web' }), get('pods', 'ns1', 'web')];
    const r = rules(recommend(ALICE, requests, NO_EXPANSION));
    expect(r).to.deep.equal(['ns1: create pods ()', 'ns1: get pods () [web]']);
    // A create on a subresource of a named object is authorized with its name: keep it.
    const token = resourceRequest(alice, 'create', 'serviceaccounts', { namespace: 'ci', name: 'builder', subresource: 'token' });
    expect(rules(recommend(ALICE, [token], NO_EXPANSION))).to.deep.equal(['ci: create serviceaccounts/token () [builder]']);
  });

  it('keeps API groups exactly as observed and subresources as resource/subresource', () => {
    const requests = [get('deployments', 'ns1', '', { apiGroup: 'apps' }), get('deployments', 'ns1', '', { apiGroup: 'extensions' }), get('pods', 'ns1', 'p', { subresource: 'log' })];
    expect(rules(recommend(ALICE, requests, { ...NO_EXPANSION, expandMultiName: true }))).to.deep.equal([
      'ns1: get pods/log () [p]',
      'ns1: get deployments (apps)',
      'ns1: get deployments (extensions)',
    ]);
  });

  it('prints kubectl-apply-able manifests, the same whatever the order of the requests', () => {
    const random = seededRandom(7);
    const requests = [get('pods', 'ns1'), get('pods', 'ns2'), url('get', '/metrics'), resourceRequest(alice, 'watch', 'leases', { namespace: 'kube-system', apiGroup: 'coordination.k8s.io' })];
    const yamlOf = (list: RequestAttributes[]) => proposalManifests(recommend(ALICE, list)).map((m) => toYaml(m)).join('---\n');
    const first = yamlOf(requests);
    for (let i = 0; i < 5; i++) expect(yamlOf([...requests].sort(() => random() - 0.5))).to.equal(first);
    const docs = parseAllDocuments(first);
    const kinds = (Array.isArray(docs) ? docs : [docs]).map((d) => (d.toJS() as { kind: string }).kind);
    expect(kinds).to.deep.equal(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    // And they read back as the same RBAC.
    const back = parseObjects(first, 'proposal');
    expect(back.problems).to.deep.equal([]);
    expect(back.state.clusterRoles[0]!.rules).to.deep.equal(recommend(ALICE, requests).clusterRoles[0]!.rules);
  });

  it('allows every request it was given, whatever the options (random requests)', () => {
    const random = seededRandom(20261127);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
    for (let round = 0; round < 40; round++) {
      const requests: RequestAttributes[] = [];
      for (let i = 0; i < 25; i++) {
        if (random() < 0.1) requests.push(url(pick(['get', 'post']), pick(['/healthz', '/metrics', '/apis'])));
        else requests.push(resourceRequest(alice, pick(verbs), pick(['pods', 'secrets', 'deployments']), { apiGroup: pick(['', 'apps']), namespace: pick(['', 'ns1', 'ns2']), name: pick(['', 'a', 'b']), subresource: pick(['', '', 'status']) }));
      }
      for (const options of [NO_EXPANSION, DEFAULT_RECOMMEND_OPTIONS, { expandVerbs: false, expandMultiNamespace: true, expandMultiName: false }]) {
        const result = dryRun(withProposal(emptyState(), recommend(ALICE, requests, options)), requests.map((attrs) => ({ attrs, count: 1 })));
        expect(result.regressions.map((r) => JSON.stringify(r.attrs))).to.deep.equal([]);
      }
    }
  });
});

describe('rbac dry run', () => {
  const bob = { name: 'bob', groups: ['system:authenticated'] };
  const state = () => {
    const s = emptyState();
    s.roles.push({ name: 'wide', namespace: 'ns1', labels: {}, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], resourceNames: [], nonResourceURLs: [] }] });
    s.roleBindings.push({ name: 'alice-wide', namespace: 'ns1', roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'wide' }, subjects: [{ kind: 'User', name: 'alice', namespace: '', apiGroup: 'rbac.authorization.k8s.io' }] });
    s.roleBindings.push({ name: 'shared', namespace: 'ns1', roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'wide' }, subjects: [{ kind: 'User', name: 'alice', namespace: '', apiGroup: 'rbac.authorization.k8s.io' }, { kind: 'User', name: 'bob', namespace: '', apiGroup: 'rbac.authorization.k8s.io' }] });
    return s;
  };

  it('takes the subject out of its bindings: deletes the ones only it had, edits the shared ones', () => {
    const { state: without, removed, edited } = withoutTarget(state(), ALICE);
    expect(removed).to.deep.equal(['RoleBinding ns1/alice-wide']);
    expect(edited).to.deep.equal(['RoleBinding ns1/shared']);
    expect(without.roleBindings.map((b) => `${b.name}: ${b.subjects.map((s) => s.name).join(',')}`)).to.deep.equal(['shared: bob']);
    // bob keeps what he had.
    expect(dryRun(without, [{ attrs: resourceRequest(bob, 'delete', 'pods', { namespace: 'ns1' }), count: 1 }]).regressionCount).to.equal(0);
  });

  it('catches a deliberately too-narrow proposal, listing what it would deny', () => {
    const observed = [
      { attrs: get('pods', 'ns1', 'web'), count: 5 },
      { attrs: resourceRequest(alice, 'delete', 'pods', { namespace: 'ns1', name: 'web' }), count: 2 },
    ];
    const { state: without } = withoutTarget(state(), ALICE);
    const good = recommend(ALICE, observed.map((o) => o.attrs));
    expect(dryRun(withProposal(without, good), observed).regressionCount).to.equal(0);
    // The same proposal without the delete.
    const narrow: Proposal = { ...good, roles: good.roles.map((r) => ({ ...r, rules: r.rules.map((rule) => ({ ...rule, verbs: rule.verbs.filter((v) => v !== 'delete') })) })) };
    const result = dryRun(withProposal(without, narrow), observed);
    expect(result.regressionCount).to.equal(2);
    expect(result.regressions.map((r) => `${r.attrs.verb} ${r.attrs.resourceRequest ? r.attrs.name : ''}`)).to.deep.equal(['delete web']);
    expect(result.requests).to.equal(7);
  });
});
