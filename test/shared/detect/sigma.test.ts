import { join } from 'node:path';
import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { DEFAULT_DETECT_SETTINGS, Detector } from '../../../shared/detect/engine.js';
import { parseCondition } from '../../../shared/detect/sigma/sigmaCondition.js';
import { checkSigmaPaths } from '../../../shared/detect/sigma/sigmaFiles.js';
import { compileDetection } from '../../../shared/detect/sigma/sigmaMatch.js';
import { readSigmaRule } from '../../../shared/detect/sigma/sigmaRule.js';
import { eventLines } from '../../../shared/demo/generateEvents.js';
import { writeSigmaRuleSet } from '../../../bench/sigmaRules.js';
import { corpusDir, makeEvent, tempDir } from '../../helpers.js';

const event = (overrides: Partial<AuditEvent> & Record<string, unknown> = {}) => makeEvent(overrides);
const matches = (detection: unknown, e: AuditEvent) => {
  const c = compileDetection(detection);
  expect(c.problems, JSON.stringify(detection)).to.deep.equal([]);
  return c.test(e, new Map());
};
const problems = (detection: unknown) => compileDetection(detection).problems;

describe('Sigma detections', () => {
  describe('conditions', () => {
    const ids = ['selection', 'sel_a', 'sel_b', 'filter', '_private'];
    it('reads and, or, not and parentheses with the usual precedence', () => {
      expect(parseCondition('selection and not filter', ids)).to.deep.equal({ kind: 'and', of: [{ kind: 'id', name: 'selection' }, { kind: 'not', of: { kind: 'id', name: 'filter' } }] });
      expect(parseCondition('sel_a or sel_b and filter', ids)).to.deep.equal({ kind: 'or', of: [{ kind: 'id', name: 'sel_a' }, { kind: 'and', of: [{ kind: 'id', name: 'sel_b' }, { kind: 'id', name: 'filter' }] }] });
      expect(parseCondition('(sel_a OR sel_b) AND NOT filter', ids)).to.deep.include({ kind: 'and' });
    });

    it('expands 1 of, any of and all of a pattern, and them without the underscored identifiers', () => {
      expect(parseCondition('1 of sel_*', ids)).to.deep.equal({ kind: 'quantified', all: false, names: ['sel_a', 'sel_b'], pattern: 'sel_*' });
      expect(parseCondition('all of them', ids)).to.deep.equal({ kind: 'quantified', all: true, names: ['selection', 'sel_a', 'sel_b', 'filter'], pattern: 'them' });
      expect(parseCondition('any of sel*', ids)).to.deep.include({ names: ['selection', 'sel_a', 'sel_b'] });
    });

    it('names what it cannot read', () => {
      const error = (c: string) => {
        try {
          parseCondition(c, ids);
          return '';
        } catch (err) {
          return (err as Error).message;
        }
      };
      expect(error('selection | count() by user.username > 5')).to.match(/aggregation after '\|' is not supported/);
      expect(error('selection and missing')).to.equal("'missing' is not a search identifier of this rule");
      expect(error('(selection or filter')).to.equal("expected ')' at the end");
      expect(error('1 of nothing_*')).to.equal("'1 of nothing_*' matches no search identifier");
      expect(error('2 of sel_*')).to.match(/only '1 of', 'any of' and 'all of'/);
      expect(error('selection filter')).to.equal("unexpected 'filter'");
    });
  });

  describe('values and modifiers', () => {
    const e = event({ user: { username: 'Mallory@Example.com', groups: ['dev', 'system:authenticated'] }, userAgent: 'curl/8.5.0', sourceIPs: ['10.0.0.7'], requestURI: '/api/v1/namespaces/a/pods/p/exec?command=%2Fbin%2Fsh' });
    it('matches strings case-insensitively with wildcards, lists as any, mappings as all', () => {
      expect(matches({ s: { 'user.username': 'mallory@*' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'user.username': 'mallory@?xample.com' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'user.username|cased': 'mallory@*' }, condition: 's' }, e)).to.equal(false);
      expect(matches({ s: { verb: ['list', 'get'] }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { verb: 'get', 'objectRef.resource': 'secrets' }, condition: 's' }, e)).to.equal(false);
      expect(matches({ s: [{ verb: 'delete' }, { 'objectRef.resource': 'pods' }], condition: 's' }, e)).to.equal(true);
      // A list field matches when any element does; a number matches its text.
      expect(matches({ s: { 'user.groups': 'dev' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'responseStatus.code': [200, 201] }, condition: 's' }, e)).to.equal(true);
      // An escaped star is a star.
      expect(matches({ s: { userAgent: 'curl\\*' }, condition: 's' }, e)).to.equal(false);
    });

    it('supports contains, startswith, endswith, all, re, cidr, exists, null and comparisons', () => {
      expect(matches({ s: { 'requestURI|contains': '%2fbin%2fsh' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'userAgent|startswith': 'CURL/' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'user.username|endswith': '@example.com' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'requestURI|contains|all': ['exec', 'command='] }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'requestURI|contains|all': ['exec', 'attach'] }, condition: 's' }, e)).to.equal(false);
      expect(matches({ s: { 'userAgent|re': '^curl/[0-9.]+$' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'sourceIPs|cidr': '10.0.0.0/8' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'sourceIPs|cidr': '192.168.0.0/16' }, condition: 's' }, e)).to.equal(false);
      expect(matches({ s: { 'impersonatedUser|exists': false }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { impersonatedUser: null }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'responseStatus.code|gte': 400 }, condition: 's' }, e)).to.equal(false);
      expect(matches({ s: { 'annotations.authorization.k8s.io/decision': 'allow' }, condition: 's' }, e)).to.equal(true);
      expect(matches({ s: { 'requestObject.spec.hostNetwork': true }, condition: 's' }, event({ requestObject: { spec: { hostNetwork: true } } }))).to.equal(true);
    });

    it('names every part it does not support rather than ignoring it', () => {
      expect(problems({ s: { 'verb|base64offset|contains': 'x' }, condition: 's' })).to.deep.equal(["modifier 'base64offset' (in 'verb|base64offset|contains') is not supported"]);
      expect(problems({ s: ['evil', 'worse'], condition: 's' })).to.deep.equal(["search 's' is a list of keywords: full-text search is not supported; name the fields"]);
      expect(problems({ s: { verb: 'x' }, condition: 's', timeframe: '5m' })).to.deep.equal(['timeframe (correlation over time) is not supported']);
      expect(problems({ s: { 'verb|re': '(' }, condition: 's' })[0]).to.match(/not a regular expression/);
      expect(problems({ s: { apiGroup: 'apps' }, condition: 's' })).to.deep.equal(["field 'apiGroup' is not in the audit Event (did you mean objectRef.apiGroup?)"]);
      expect(problems({ s: { verb: 'x' } })).to.deep.equal(['condition is missing or not text']);
    });
  });

  describe('rule files', () => {
    const rule = (body: string) => readSigmaRule(`title: T\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n  product: kubernetes\n  service: audit\n${body}`, 'r.yml');
    it('reads a rule with its id, level as severity, and tags', () => {
      const r = rule('detection:\n  s:\n    verb: delete\n  condition: s\nlevel: informational\ntags: [attack.t1070]\n');
      expect(r.problems).to.deep.equal([]);
      expect(r.rule).to.deep.include({ id: '11111111-2222-3333-4444-555555555555', title: 'T', level: 'informational', severity: 'low', tags: ['attack.t1070'] });
    });

    it('refuses, with the reason, other log sources, rule collections, broken YAML and unknown levels', () => {
      expect(readSigmaRule('title: T\nlogsource: {product: windows}\ndetection: {s: {a: b}, condition: s}\n', 'w.yml').problems[0]).to.match(/product 'windows'.*kubetrail reads product kubernetes, service audit/);
      expect(readSigmaRule('title: A\n---\ntitle: B\n', 'c.yml').problems[0]).to.match(/2 YAML documents/);
      expect(readSigmaRule('title: [unclosed\n', 'b.yml').problems[0]).to.match(/^not valid YAML/);
      expect(rule('detection: {s: {verb: x}, condition: s}\nlevel: severe\n').problems).to.deep.equal(["level 'severe' is not one of informational, low, medium, high, critical"]);
      expect(rule('detection: {s: {verb: x}, condition: s}\n').rule).to.not.equal(null);
    });

    it('raises an alert finding named sigma:<id> with the title, the tags and the level as severity', () => {
      const r = rule('detection:\n  s:\n    verb: delete\n    objectRef.resource: events\n  condition: s\nlevel: high\ntags: [attack.defense-evasion]\n').rule!;
      const detector = new Detector({ ...DEFAULT_DETECT_SETTINGS, rules: {}, sigma: [r] });
      const parsed = (o: Partial<AuditEvent>) => {
        const p = parseEvent(event(o), 'test');
        if (!('event' in p)) throw new Error(p.reason);
        return p;
      };
      const found = detector.detect(parsed({ verb: 'delete', objectRef: { resource: 'events', namespace: 'a', name: 'x', apiVersion: 'v1' } }), 'c').filter((f) => f.rule.startsWith('sigma:'));
      expect(found.map((f) => [f.rule, f.severity, f.message])).to.deep.equal([['sigma:11111111-2222-3333-4444-555555555555', 'high', 'T: alice delete events x in a [attack.defense-evasion]']]);
      expect(detector.detect(parsed({ verb: 'get', objectRef: { resource: 'events', namespace: 'a', apiVersion: 'v1' } }), 'c').filter((f) => f.rule.startsWith('sigma:'))).to.deep.equal([]);
    });
  });
});

describe('Sigma rules indexed by resource and verb', () => {
  it('finds exactly what testing every rule on every event finds', () => {
    const dir = writeSigmaRuleSet(join(tempDir(), 'sigma'));
    const rules = checkSigmaPaths([dir], 'test').map((c) => c.rule!);
    const events = [...eventLines(5000)].map((l, i) => parseEvent(JSON.parse(l), String(i))).filter((p) => 'event' in p);
    const detector = new Detector({ ...DEFAULT_DETECT_SETTINGS, rules: {}, sigma: rules });
    const compiled = rules.map((r) => ({ id: `sigma:${r.id}`, test: compileDetection(r.detection).test }));
    let matches = 0;
    for (const p of events) {
      const indexed = detector.detect(p, 'c').filter((f) => f.rule.startsWith('sigma:')).map((f) => f.rule).sort();
      const brute = compiled.filter((c) => c.test(p.event, new Map())).map((c) => c.id).sort();
      expect(indexed, p.position).to.deep.equal(brute);
      matches += brute.length;
    }
    // The set is not idle: some rules do fire on the generated day.
    expect(matches).to.be.greaterThan(100);
    expect(compileDetection({ s: { verb: ['Create'], 'objectRef.resource': 'pods' }, condition: 's' }).required).to.deep.equal({ field: 'objectRef.resource', values: new Set(['pods']) });
    expect(compileDetection({ s: { verb: 'create' }, f: { 'objectRef.resource': 'pods' }, condition: 's or f' }).required).to.equal(null);
    expect(compileDetection({ s: { verb: 'create' }, f: { 'objectRef.resource': 'pods' }, condition: 's and not f' }).required).to.deep.equal({ field: 'verb', values: new Set(['create']) });
  });
});

/**
 * SigmaHQ's Kubernetes audit rules (../shared/corpus/sigma/kubernetes-audit): each that kubetrail
 * can evaluate fires on a request it describes and stays silent on a near miss; the others are
 * reported with what they need that the audit Event does not have.
 */
const RUNS: Record<string, { fires: Partial<AuditEvent>; miss: Partial<AuditEvent> }> = {
  'kubernetes_audit_change_admission_controller.yml': {
    fires: { verb: 'patch', objectRef: { resource: 'mutatingwebhookconfigurations', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1', name: 'hook' } },
    miss: { verb: 'get', objectRef: { resource: 'mutatingwebhookconfigurations', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1', name: 'hook' } },
  },
  'kubernetes_audit_cronjob_modification.yml': {
    fires: { verb: 'create', objectRef: { resource: 'cronjobs', apiGroup: 'batch', apiVersion: 'v1', namespace: 'a' } },
    miss: { verb: 'create', objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'a' } },
  },
  'kubernetes_audit_deployment_deleted.yml': {
    fires: { verb: 'delete', objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'a', name: 'web' } },
    miss: { verb: 'delete', objectRef: { resource: 'replicasets', apiGroup: 'apps', apiVersion: 'v1', namespace: 'a', name: 'web' } },
  },
  'kubernetes_audit_events_deleted.yml': {
    fires: { verb: 'delete', objectRef: { resource: 'events', apiVersion: 'v1', namespace: 'a', name: 'e' } },
    miss: { verb: 'list', objectRef: { resource: 'events', apiVersion: 'v1', namespace: 'a' } },
  },
  'kubernetes_audit_exec_into_container.yml': {
    fires: { verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', apiVersion: 'v1', namespace: 'a', name: 'p' } },
    miss: { verb: 'create', objectRef: { resource: 'pods', subresource: 'attach', apiVersion: 'v1', namespace: 'a', name: 'p' } },
  },
  'kubernetes_audit_pod_in_system_namespace.yml': {
    fires: { verb: 'create', objectRef: { resource: 'pods', apiVersion: 'v1', namespace: 'kube-system' } },
    miss: { verb: 'create', objectRef: { resource: 'pods', apiVersion: 'v1', namespace: 'kube-public' } },
  },
  'kubernetes_audit_rolebinding_modification.yml': {
    fires: { verb: 'update', objectRef: { resource: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', name: 'b' } },
    miss: { verb: 'update', objectRef: { resource: 'clusterroles', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', name: 'b' } },
  },
  'kubernetes_audit_secrets_enumeration.yml': {
    fires: { verb: 'list', objectRef: { resource: 'secrets', apiVersion: 'v1', namespace: 'a' } },
    miss: { verb: 'get', objectRef: { resource: 'secrets', apiVersion: 'v1', namespace: 'a', name: 's' } },
  },
  'kubernetes_audit_secrets_modified_or_deleted.yml': {
    fires: { verb: 'delete', objectRef: { resource: 'secrets', apiVersion: 'v1', namespace: 'a', name: 's' } },
    miss: { verb: 'watch', objectRef: { resource: 'secrets', apiVersion: 'v1', namespace: 'a' } },
  },
  'kubernetes_audit_serviceaccount_creation.yml': {
    fires: { verb: 'create', objectRef: { resource: 'serviceaccounts', apiVersion: 'v1', namespace: 'a' } },
    miss: { verb: 'update', objectRef: { resource: 'serviceaccounts', apiVersion: 'v1', namespace: 'a', name: 'x' } },
  },
  'kubernetes_audit_unauthorized_unauthenticated_actions.yml': {
    fires: { responseStatus: { metadata: {}, code: 403 }, annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } },
    miss: { responseStatus: { metadata: {}, code: 404 } },
  },
};
const UNSUPPORTED: Record<string, string> = {
  'kubernetes_audit_hostpath_mount.yml': "field 'hostPath' is not in the audit Event",
  'kubernetes_audit_privileged_pod_creation.yml': "field 'capabilities' is not in the audit Event",
  'kubernetes_audit_rbac_permisions_listing.yml': "field 'apiGroup' is not in the audit Event (did you mean objectRef.apiGroup?)",
  'kubernetes_audit_sidecar_injection.yml': "field 'apiGroup' is not in the audit Event (did you mean objectRef.apiGroup?)",
  'kubernetes_audit_potential_enumeration_activity.yml': "'ALLOW' can never match: responseStatus.code is a number",
};

describe('SigmaHQ Kubernetes audit rules (corpus)', function () {
  let dir: string | null = null;
  before(function () {
    const corpus = corpusDir(this);
    dir = corpus && join(corpus, 'sigma', 'kubernetes-audit');
  });

  it('loads all 16; the 11 whose fields the audit Event has run, the 5 others say what they lack', function () {
    if (!dir) return this.skip();
    const checks = checkSigmaPaths([dir], 'test');
    expect(checks).to.have.length(16);
    const name = (f: string) => f.replace(/^.*[\\/]/, '');
    expect(checks.filter((c) => c.rule).map((c) => name(c.file)).sort()).to.deep.equal(Object.keys(RUNS).sort());
    for (const c of checks.filter((x) => !x.rule)) expect(c.problems.join('; '), name(c.file)).to.contain(UNSUPPORTED[name(c.file)]);
    for (const c of checks) expect(c.title, name(c.file)).to.be.a('string');
  });

  for (const [file, { fires, miss }] of Object.entries(RUNS)) {
    it(`${file}: fires on its request, silent on a near miss`, function () {
      if (!dir) return this.skip();
      const [check] = checkSigmaPaths([join(dir, file)], 'test');
      const detector = new Detector({ ...DEFAULT_DETECT_SETTINGS, rules: {}, sigma: [check!.rule!] });
      const run = (o: Partial<AuditEvent>) => {
        const p = parseEvent(event(o), file);
        if (!('event' in p)) throw new Error(p.reason);
        return detector.detect(p, 'c').filter((f) => f.rule === `sigma:${check!.rule!.id}`);
      };
      expect(run(fires), 'fires').to.have.length(1);
      expect(run(miss), 'near miss').to.have.length(0);
    });
  }
});
