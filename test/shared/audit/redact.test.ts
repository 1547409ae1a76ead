import { expect } from 'chai';
import { REDACTED_PREFIX, createRedactor, redactBodies } from '../../../shared/audit/redact.js';
import { makeEvent } from '../../helpers.js';

const redact = createRedactor(Buffer.from('test-key'));
const MARK = new RegExp(`^${REDACTED_PREFIX}[0-9a-f]{12}$`);

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
      expect(body.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).to.match(MARK);
      expect(body.metadata.annotations.team).to.equal('a');
      expect(strings(body).join()).to.not.match(/aHVudGVyMg|plain-token|b3RoZXI/);
    }
    expect(secret.data.password).to.equal('aHVudGVyMg==', 'the event itself is not changed');
  });

  it('redacts Secrets inside a list response', () => {
    const list = { kind: 'SecretList', items: [{ kind: 'Secret', data: { a: 'c2VjcmV0' } }, { kind: 'Secret', data: { b: 'c2VjcmV0' } }] };
    const out = redactBodies(makeEvent({ objectRef: secretRef, responseObject: list }), redact).responseObject as typeof list;
    expect(out.items.map((s) => Object.values(s.data)[0])).to.satisfy((v: string[]) => v.every((x) => MARK.test(x)));
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

  it('hashes with the store key: another key gives another mark', () => {
    expect(createRedactor(Buffer.from('k1'))('v')).to.not.equal(createRedactor(Buffer.from('k2'))('v'));
    expect(createRedactor(Buffer.from('k1'))('v')).to.equal(createRedactor(Buffer.from('k1'))('v'));
  });
});
