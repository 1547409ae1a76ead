import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { Authorizer } from '../../../shared/rbac/authorizer.js';
import { parseObjects } from '../../../shared/rbac/parseObjects.js';
import { ruleAllows } from '../../../shared/rbac/ruleAllows.js';
import type { PolicyRule, RbacState, RequestAttributes } from '../../../shared/rbac/types.js';
import { sharedPath } from '../../helpers.js';

/** One vector of spec/rbac.md §7 (its schema is there). */
interface Vector {
  id: string;
  source: string;
  note?: string;
  rule?: Partial<PolicyRule>;
  state?: Record<string, Record<string, unknown>[]>;
  request: { user?: string; groups?: string[]; verb: string; resourceRequest?: boolean; apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string; path?: string };
  expect: { allowed: boolean; reason?: string };
}

const FIXTURE = resolve(process.cwd(), 'test', 'fixtures', 'rbac-vectors', 'vectors.yaml');
const SPEC = resolve(process.cwd(), '..', 'shared', 'spec', 'rbac.md');

/** The YAML block under "### Vectors" of the specification. */
function specBlock(): string {
  const text = readFileSync(SPEC, 'utf8');
  const start = text.indexOf('```yaml', text.indexOf('### Vectors'));
  return text.slice(start + 7, text.indexOf('```', start + 7));
}

const KINDS: Record<string, string> = { clusterRoles: 'ClusterRole', roles: 'Role', clusterRoleBindings: 'ClusterRoleBinding', roleBindings: 'RoleBinding' };

/** A vector's state as the Kubernetes objects it describes, read by the same loader as files. */
function stateOf(v: Vector): RbacState {
  const items = Object.entries(v.state ?? {}).flatMap(([key, objects]) =>
    objects.map(({ name, namespace, labels, ...rest }) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: KINDS[key],
      metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) },
      ...rest,
    })),
  );
  const parsed = parseObjects(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), v.id);
  expect(parsed.problems, `${v.id} state`).to.deep.equal([]);
  return parsed.state;
}

function requestOf(v: Vector): RequestAttributes {
  const r = v.request;
  const user = { name: r.user ?? '', groups: r.groups ?? [] };
  if (r.resourceRequest === false) return { user, verb: r.verb, resourceRequest: false, path: r.path ?? '' };
  return { user, verb: r.verb, resourceRequest: true, apiGroup: r.apiGroup ?? '', resource: r.resource ?? '', subresource: r.subresource ?? '', namespace: r.namespace ?? '', name: r.name ?? '' };
}

function ruleOf(r: Partial<PolicyRule>): PolicyRule {
  return { verbs: r.verbs ?? [], apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], resourceNames: r.resourceNames ?? [], nonResourceURLs: r.nonResourceURLs ?? [] };
}

/** What a vector asks, in words: who, which verb, on what. */
function requestText(v: Vector): string {
  const r = v.request;
  const who = r.user ?? (r.groups?.length ? `group ${r.groups.join('+')}` : 'anyone');
  if (r.resourceRequest === false) return `${who} ${r.verb} ${r.path ?? ''}`;
  const what = `${r.apiGroup ? `${r.apiGroup}/` : ''}${r.resource ?? ''}${r.subresource ? `/${r.subresource}` : ''}${r.name ? ` ${r.name}` : ''}`;
  return `${who} ${r.verb} ${what}${r.namespace ? ` in ${r.namespace}` : ''}`;
}

describe('RBAC: the authorization vectors (test/fixtures/rbac-vectors, from upstream Kubernetes tests)', function () {
  const vectors = parse(readFileSync(FIXTURE, 'utf8')) as Vector[];

  it('has 66 vectors, 33 allowed and 33 denied', () => {
    expect(vectors).to.have.length(66);
    expect(vectors.filter((v) => v.expect.allowed)).to.have.length(33);
  });

  it('are those of the specification, where it is beside the repository', function () {
    if (!existsSync(SPEC)) sharedPath(this, 'spec/rbac.md');
    expect(vectors).to.deep.equal(parse(specBlock()));
  });

  for (const v of vectors) {
    it(`${v.expect.allowed ? 'allows' : 'denies'} ${requestText(v)}: ${v.note ?? v.source} (${v.id})`, () => {
      const attrs = requestOf(v);
      if (v.rule) {
        expect(ruleAllows(attrs, ruleOf(v.rule))).to.equal(v.expect.allowed);
        return;
      }
      const decision = new Authorizer(stateOf(v)).authorize(attrs);
      expect(decision.allowed).to.equal(v.expect.allowed);
      if (v.expect.reason !== undefined) expect(decision.reason).to.equal(v.expect.reason);
    });
  }
});
