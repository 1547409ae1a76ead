import { expect } from 'chai';
import { Authorizer } from '../../../shared/rbac/authorizer.js';
import { ruleAllows } from '../../../shared/rbac/ruleAllows.js';
import { emptyState, type PolicyRule, type RbacState, type RequestAttributes, type Subject } from '../../../shared/rbac/types.js';
import { seededRandom } from '../../helpers.js';


const VERBS = ['get', 'list', 'watch', 'create', 'update', 'delete', 'escalate'];
const GROUPS = ['', 'apps', 'rbac.authorization.k8s.io'];
const RESOURCES = ['pods', 'deployments', 'secrets', 'roles'];
const SUBRESOURCES = ['', 'log', 'scale', 'status'];
const NAMES = ['', 'a', 'b'];
const NAMESPACES = ['', 'ns1', 'ns2'];
const URLS = ['/healthz', '/healthz/ready', '/metrics', '/apis', '/apis/apps'];
const USERS = ['alice', 'bob', 'system:serviceaccount:ns1:sa'];
const USER_GROUPS = ['dev', 'ops', 'system:authenticated'];

/** Every resource string a request in the universe can name: `res` and `res/sub`. */
const COMBINED = RESOURCES.flatMap((r) => SUBRESOURCES.map((s) => (s ? `${r}/${s}` : r)));

describe('RBAC: properties over random rules and requests', () => {
  const random = seededRandom(20261127);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const some = <T>(xs: readonly T[], max = 2): T[] => [...new Set(Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(xs)))];

  const request = (): RequestAttributes => {
    const user = { name: pick(USERS), groups: some(USER_GROUPS) };
    if (random() < 0.2) return { user, verb: pick(VERBS), resourceRequest: false, path: pick(URLS) };
    return { user, verb: pick(VERBS), resourceRequest: true, apiGroup: pick(GROUPS), resource: pick(RESOURCES), subresource: pick(SUBRESOURCES), namespace: pick(NAMESPACES), name: pick(NAMES) };
  };
  const rule = (wild: number): PolicyRule => {
    if (random() < 0.2) return { verbs: random() < wild ? ['*'] : some(VERBS), apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: random() < wild ? ['*'] : some([...URLS, '/healthz*', '/apis/*']) };
    return {
      verbs: random() < wild ? ['*'] : some(VERBS),
      apiGroups: random() < wild ? ['*'] : some(GROUPS),
      resources: random() < wild ? ['*'] : some([...COMBINED, '*/scale']),
      resourceNames: random() < 0.2 ? some(NAMES.filter(Boolean)) : [],
      nonResourceURLs: [],
    };
  };

  it('a wildcard rule allows exactly what its expansion over the universe allows (2,000 rules × 50 requests)', () => {
    for (let i = 0; i < 2000; i++) {
      const wild = rule(0.6);
      const expanded: PolicyRule = {
        ...wild,
        verbs: wild.verbs.includes('*') ? VERBS : wild.verbs,
        apiGroups: wild.apiGroups.includes('*') ? GROUPS : wild.apiGroups,
        resources: wild.resources.includes('*') ? COMBINED : wild.resources,
        nonResourceURLs: wild.nonResourceURLs.includes('*') ? URLS : wild.nonResourceURLs,
      };
      for (let j = 0; j < 50; j++) {
        const req = request();
        expect(ruleAllows(req, wild), `${JSON.stringify(wild)} on ${JSON.stringify(req)}`).to.equal(ruleAllows(req, expanded));
      }
    }
  });

  const subject = (): Subject => {
    const kind = pick(['User', 'Group', 'ServiceAccount']);
    if (kind === 'User') return { kind, name: pick(USERS), namespace: '', apiGroup: 'rbac.authorization.k8s.io' };
    if (kind === 'Group') return { kind, name: pick(USER_GROUPS), namespace: '', apiGroup: 'rbac.authorization.k8s.io' };
    return { kind, name: 'sa', namespace: pick(['', 'ns1']), apiGroup: '' };
  };
  const binding = (state: RbacState, n: number) => {
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: random() < 0.5 ? 'ClusterRole' : 'Role', name: `r${Math.floor(random() * 4)}` };
    if (random() < 0.5) state.clusterRoleBindings.push({ name: `crb${n}`, roleRef: { ...roleRef, kind: 'ClusterRole' }, subjects: [subject(), subject()] });
    else state.roleBindings.push({ name: `rb${n}`, namespace: pick(['ns1', 'ns2']), roleRef, subjects: [subject()] });
  };
  const randomState = (): RbacState => {
    const s = emptyState();
    for (let r = 0; r < 3; r++) {
      s.clusterRoles.push({ name: `r${r}`, labels: {}, rules: [rule(0.3), rule(0.3)] });
      s.roles.push({ name: `r${r}`, namespace: pick(['ns1', 'ns2']), labels: {}, rules: [rule(0.3)] });
    }
    for (let b = 0; b < 4; b++) binding(s, b);
    return s;
  };

  it('adding a binding never takes an allow away (300 states × 100 requests)', () => {
    for (let i = 0; i < 300; i++) {
      const before = randomState();
      const after: RbacState = structuredClone(before);
      binding(after, 99);
      const [a, b] = [new Authorizer(before), new Authorizer(after)];
      for (let j = 0; j < 100; j++) {
        const req = request();
        if (a.authorize(req).allowed) expect(b.authorize(req).allowed, JSON.stringify({ req, added: after })).to.equal(true);
      }
    }
  });

  it('a RoleBinding never allows a cluster-wide request, nor one in another namespace', () => {
    for (let i = 0; i < 300; i++) {
      const s = randomState();
      s.clusterRoleBindings = [];
      const authz = new Authorizer(s);
      for (let j = 0; j < 100; j++) {
        const req = request();
        const d = authz.authorize(req);
        if (!d.allowed || d.via !== 'rbac') continue;
        expect(req.resourceRequest).to.equal(true);
        expect(d.grant.binding.namespace).to.equal(req.resourceRequest ? req.namespace : '');
      }
    }
  });

  it('the subject index finds what a scan of every binding finds', () => {
    for (let i = 0; i < 300; i++) {
      const authz = new Authorizer(randomState());
      for (let j = 0; j < 100; j++) {
        const req = request();
        const viaIndex = authz.authorize(req).allowed;
        const byScan = [...authz.allBindings(req.resourceRequest && req.namespace ? [req.namespace] : [])].some(
          (b) =>
            !('error' in b.role) &&
            (b.binding.kind === 'ClusterRoleBinding' || (req.resourceRequest && b.binding.namespace === req.namespace)) &&
            b.subjects.some((s) => (s.kind === 'Group' ? req.user.groups.includes(s.name) : s.kind === 'User' ? s.name === req.user.name : (s.namespace || b.binding.namespace) !== '' && req.user.name === `system:serviceaccount:${s.namespace || b.binding.namespace}:${s.name}`)) &&
            b.role.rules.some((r) => ruleAllows(req, r)),
        );
        expect(viaIndex, JSON.stringify(req)).to.equal(byScan);
      }
    }
  });
});
