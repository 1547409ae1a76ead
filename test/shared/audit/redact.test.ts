import { expect } from 'chai';
import { REDACTED_PREFIX, createRedactor, redactBodies, redactUntrusted } from '../../../shared/audit/redact.js';
import { makeEvent } from '../../helpers.js';

const redact = createRedactor(Buffer.from('test-key'));
const MARK = new RegExp(`^${REDACTED_PREFIX}[0-9a-f]{64}$`);

/** Every string in `value` (deep), to prove that no secret survives anywhere. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

const secretRef = { resource: 'secrets', namespace: 'a', name: 's', apiVersion: 'v1' };

describe('redactBodies', () => {
  it('redacts Secret data, stringData and the last-applied annotation, keeping equality visible', () => {
    const secret = {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"p":"aHVudGVyMg=="}}', team: 'a' } },
      data: { password: 'aHVudGVyMg==', copy: 'aHVudGVyMg==', other: 'b3RoZXI=' },
      stringData: { token: 'plain-token' },
    };
    const out = redactBodies(makeEvent({ objectRef: secretRef, requestObject: secret, responseObject: secret }), redact);
    for (const body of [out.requestObject, out.responseObject] as (typeof secret)[]) {
      expect(body.data.password).to.match(MARK);
      expect(body.data.copy).to.equal(body.data.password);
      expect(body.data.other).to.not.equal(body.data.password);
      expect(body.stringData.token).to.match(MARK);
      expect(JSON.parse(body.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).data.p).to.match(MARK);
      expect(body.metadata.annotations.team).to.equal('a');
      expect(strings(body).join()).to.not.match(/aHVudGVyMg|plain-token|b3RoZXI/);
    }
    expect(secret.data.password).to.equal('aHVudGVyMg==', 'the event itself is not changed');
  });

  it('redacts Secrets inside a list response, whose items carry no kind', () => {
    const list = { kind: 'SecretList', apiVersion: 'v1', items: [{ metadata: { name: 'db' }, data: { a: 'c2VjcmV0' } }, { metadata: { name: 'x' }, data: { b: 'c2VjcmV0' } }] };
    const listRef = { resource: 'secrets', namespace: 'a', apiVersion: 'v1' };
    const out = redactBodies(makeEvent({ objectRef: listRef, responseObject: list }), redact).responseObject;
    expect(strings(out).join()).to.not.contain('c2VjcmV0');
    // A list of secrets as a Table or in a cross-namespace list still says SecretList.
    const elsewhere = redactBodies(makeEvent({ objectRef: { resource: 'configmaps', apiVersion: 'v1' }, responseObject: list }), redact).responseObject;
    expect(strings(elsewhere).join()).to.not.contain('c2VjcmV0');
  });

  it('redacts the last-applied annotation of any object like the object itself', () => {
    const applied = { kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'P', value: 's3cr3t' }] }] } } } };
    const deployment = { ...applied, metadata: { name: 'd', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) } } };
    const ref = { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'a', name: 'd' };
    const out = redactBodies(makeEvent({ objectRef: ref, requestObject: deployment }), redact).requestObject as typeof deployment;
    expect(JSON.stringify(out)).to.not.contain('s3cr3t');
    const inner = JSON.parse(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    expect(inner.spec.template.spec.containers[0].env[0].value).to.match(MARK);
    const notJson = { kind: 'ConfigMap', metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'token=abc{' } } };
    const out2 = redactBodies(makeEvent({ requestObject: notJson }), redact).requestObject as typeof notJson;
    expect(out2.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).to.match(MARK);
  });

  it('redacts JSON-patch values that are a container or a container list', () => {
    const patch = [
      { op: 'add', path: '/spec/template/spec/containers/1', value: { name: 'side', env: [{ name: 'A', value: 'patch-secret-A' }] } },
      { op: 'replace', path: '/spec/template/spec/initContainers', value: [{ name: 'i', env: [{ name: 'B', value: 'patch-secret-B' }] }] },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.27' },
    ];
    const out = redactBodies(makeEvent({ requestObject: patch }), redact).requestObject as typeof patch;
    expect(JSON.stringify(out)).to.not.match(/patch-secret/);
    expect(out[2]!.value).to.equal('nginx:1.27');
  });

  it('redacts merge patches and JSON patches of secrets', () => {
    const merge = redactBodies(makeEvent({ objectRef: secretRef, requestObject: { data: { a: 'eHl6' } } }), redact).requestObject;
    expect(strings(merge)).to.satisfy((v: string[]) => v.every((x) => MARK.test(x)));
    const ops = [
      { op: 'replace', path: '/data/a', value: 'eHl6' },
      { op: 'add', path: '/stringData', value: { b: 'plain' } },
      { op: 'add', path: '/metadata/labels/x', value: 'y' },
      { op: 'remove', path: '/data/c' },
    ];
    const out = redactBodies(makeEvent({ objectRef: secretRef, requestObject: ops }), redact).requestObject as typeof ops;
    expect(out[0]!.value).to.match(MARK);
    expect((out[1]!.value as Record<string, string>).b).to.match(MARK);
    expect(out[2]!.value).to.equal('y');
    expect(out[3]).to.deep.equal({ op: 'remove', path: '/data/c' });
  });

  it('redacts a TokenRequest token', () => {
    const resp = { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', status: { token: 'eyJhbGciOi.secret', expirationTimestamp: '2026-01-01T00:00:00Z' } };
    const ref = { resource: 'serviceaccounts', subresource: 'token', namespace: 'a', name: 'sa', apiVersion: 'v1' };
    const out = redactBodies(makeEvent({ objectRef: ref, responseObject: resp }), redact).responseObject as typeof resp;
    expect(out.status.token).to.match(MARK);
    expect(out.status.expirationTimestamp).to.equal('2026-01-01T00:00:00Z');
  });

  it('redacts container env values in pods, workload templates and patches, keeping valueFrom', () => {
    const pod = {
      kind: 'Pod',
      spec: {
        initContainers: [{ name: 'i', env: [{ name: 'A', value: 'init-secret' }] }],
        containers: [{ name: 'c', env: [{ name: 'B', value: 'db-password' }, { name: 'C', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }],
        ephemeralContainers: [{ name: 'e', env: [{ name: 'D', value: 'debug-secret' }] }],
      },
    };
    const deployment = { kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'E', value: 'tmpl-secret' }] }] } } } };
    const patch = [
      { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'F', value: 'patch-secret' } },
      { op: 'replace', path: '/spec/template/spec/containers/0/env/1/value', value: 'patch-secret-2' },
      { op: 'replace', path: '/spec/template/spec/containers/0/env', value: [{ name: 'G', value: 'patch-secret-3' }] },
    ];
    const podOut = redactBodies(makeEvent({ requestObject: pod }), redact).requestObject as typeof pod;
    expect(strings(podOut).join()).to.not.match(/init-secret|db-password|debug-secret/);
    expect(podOut.spec.containers[0]!.env[1]).to.deep.equal(pod.spec.containers[0]!.env[1]);
    expect(strings(redactBodies(makeEvent({ requestObject: deployment }), redact)).join()).to.not.match(/tmpl-secret/);
    expect(strings(redactBodies(makeEvent({ requestObject: patch }), redact)).join()).to.not.match(/patch-secret/);
  });

  it('leaves bodies without secrets alone', () => {
    const cm = { kind: 'ConfigMap', data: { a: 'b' } };
    expect(redactBodies(makeEvent({ requestObject: cm }), redact)).to.deep.equal({ requestObject: cm });
    expect(redactBodies(makeEvent(), redact)).to.deep.equal({});
  });

  it('shares what needs no redaction instead of copying it, and never changes its input', () => {
    // A 30 MB ConfigMap must cost one tree in memory, not two.
    const big = { kind: 'ConfigMap', metadata: { name: 'big', labels: { a: 'b' } }, data: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'])) };
    expect(redactBodies(makeEvent({ requestObject: big }), redact).requestObject).to.equal(big);
    // Where something is redacted, only the path to it is new; the input stays as it was.
    const pod = {
      kind: 'Pod',
      metadata: { name: 'p', labels: { app: 'x' } },
      spec: { volumes: [{ name: 'v' }], containers: [{ name: 'c', image: 'i', env: [{ name: 'P', value: 'hunter2' }] }] },
    };
    const list = { kind: 'List', items: [big, pod, { kind: 'Secret', data: { p: 'aHVudGVyMg==' } }] };
    const before = structuredClone(list);
    const out = redactBodies(makeEvent({ responseObject: list }), redact).responseObject as typeof list;
    expect(list).to.deep.equal(before);
    expect(out.items[0]).to.equal(big);
    const outPod = out.items[1] as typeof pod;
    expect(outPod.spec.containers[0]!.env[0]!.value).to.match(MARK);
    expect(outPod.metadata).to.equal(pod.metadata);
    expect(outPod.spec.volumes).to.equal(pod.spec.volumes);
    expect((out.items[2] as { data: { p: string } }).data.p).to.match(MARK);
    // Secrets found by the request's resource alone (a merge patch, a list's items) too.
    const patch = { data: { p: 'aHVudGVyMg==' } };
    const items = { items: [{ data: { p: 'aHVudGVyMg==' } }] };
    const patchBefore = structuredClone(patch);
    const itemsBefore = structuredClone(items);
    expect(strings(redactBodies(makeEvent({ objectRef: secretRef, requestObject: patch, responseObject: items }), redact))).to.not.include('aHVudGVyMg==');
    expect(patch).to.deep.equal(patchBefore);
    expect(items).to.deep.equal(itemsBefore);
  });

  it('hashes with the store key: another key gives another mark', () => {
    expect(createRedactor(Buffer.from('k1'))('v')).to.not.equal(createRedactor(Buffer.from('k2'))('v'));
    expect(createRedactor(Buffer.from('k1'))('v')).to.equal(createRedactor(Buffer.from('k1'))('v'));
  });
});

describe('redaction of the last-applied annotation wherever it appears, and of untrusted input', () => {
  const applied = JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, stringData: { password: 'hunter2-applied' } });
  const deployRef = { resource: 'deployments', namespace: 'a', name: 'web', apiGroup: 'apps', apiVersion: 'v1' };
  const forms: [string, unknown][] = [
    ['a JSON patch of the annotation', [{ op: 'add', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: applied }]],
    ['a JSON patch of the annotations', [{ op: 'replace', path: '/metadata/annotations', value: { 'kubectl.kubernetes.io/last-applied-configuration': applied } }]],
    ['a JSON patch of the metadata', [{ op: 'replace', path: '/metadata', value: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } }]],
    ['a merge or strategic merge patch', { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } }],
    ['an apply patch', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } }],
    ['text that is not JSON', { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'hunter2-applied, not json' } } }],
  ];
  for (const [what, body] of forms) {
    it(`redacts ${what}`, () => {
      const out = redactBodies(makeEvent({ objectRef: deployRef, requestObject: body }), redact);
      const text = JSON.stringify(out.requestObject);
      expect(text).to.not.contain('hunter2-applied');
      expect(text).to.contain(REDACTED_PREFIX);
    });
  }

  it('keeps __proto__ keys as the own keys they were', () => {
    const body = JSON.parse('{"kind":"ConfigMap","data":{"__proto__":"kept"},"__proto__":{"x":1}}') as object;
    const out = redactBodies(makeEvent({ requestObject: body }), redact).requestObject as Record<string, Record<string, unknown>>;
    expect(JSON.stringify(out)).to.equal(JSON.stringify(body));
    expect(Object.getPrototypeOf(out.data)).to.equal(Object.prototype);
  });

  it('is idempotent: redacting a redacted body changes nothing', () => {
    const secret = { kind: 'Secret', data: { p: 'aHVudGVyMg==' }, metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } };
    const once = redactBodies(makeEvent({ objectRef: secretRef, requestObject: secret }), redact).requestObject;
    const twice = redactBodies(makeEvent({ objectRef: secretRef, requestObject: once }), redact).requestObject;
    expect(twice).to.deep.equal(once);
  });

  it('redacts a body about Secrets that is neither an object nor a JSON patch (found by fuzzing: a mangled "op" key)', () => {
    const body = [{ 'op\ue012': 'add', path: '/metadata/annotations/x', value: '{"kind":"Secret","stringData":{"p":"hunter2-e"}}', data: { k: 'hunter2-f' } }];
    const out = redactBodies(makeEvent({ objectRef: secretRef, requestObject: body }), redact).requestObject;
    expect(strings(out).join(' ')).to.not.match(/hunter2/);
  });

  it('redacts every data, stringData, token and value of untrusted input, whatever its shape', () => {
    const odd = { objectRef: 'not an object', requestObject: { data: { p: 'hunter2-a' } }, items: [{ stringData: { q: 'hunter2-b' } }], spec: { token: 'hunter2-c', env: [{ value: 'hunter2-d' }] } };
    expect(strings(redactUntrusted(odd, redact)).join(' ')).to.not.match(/hunter2/);
  });
});
