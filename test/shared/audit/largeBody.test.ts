import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { expect } from 'chai';
import { JsonScanError, valueEnd } from '../../../shared/audit/jsonScan.js';
import { LARGE_BODY_BYTES, LargeBody, UnreadableItem, decodeWithLargeBodies } from '../../../shared/audit/largeBody.js';
import { parsePayload } from '../../../shared/audit/parsePayload.js';
import { REDACTED_PREFIX, createRedactor, redactBodies } from '../../../shared/audit/redact.js';
import { LargeBodyRedactionError, redactLargeBody } from '../../../shared/audit/redactStream.js';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { makeWellFormed } from '../../../shared/audit/wellFormed.js';
import { prepareEvent } from '../../../shared/pipeline/prepareEvent.js';
import { corpusDir, makeEvent, parsedEvent } from '../../helpers.js';

const redact = createRedactor(Buffer.from('test-key'));
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const secretRef = { resource: 'secrets', namespace: 'a', apiVersion: 'v1' };

/** What the store keeps of `body` when it is decoded (redact.ts), as JSON text. */
function treeForm(text: string, objectRef?: AuditEvent['objectRef']): unknown {
  const body: unknown = JSON.parse(text);
  makeWellFormed(body);
  return JSON.parse(JSON.stringify(redactBodies(makeEvent({ objectRef, requestObject: body }), redact).requestObject));
}

/** What the store keeps of `body` when it streams over it (redactStream.ts). */
function streamForm(text: string, objectRef?: AuditEvent['objectRef']): unknown {
  const event = makeEvent({ objectRef });
  const secretRequest = event.objectRef?.resource === 'secrets' && !event.objectRef.apiGroup && !event.objectRef.subresource;
  return JSON.parse(redactLargeBody(Buffer.from(text), redact, secretRequest).toString('utf8'));
}

function expectSameRedaction(text: string, objectRef?: AuditEvent['objectRef']): void {
  expect(streamForm(text, objectRef), text.slice(0, 300)).to.deep.equal(treeForm(text, objectRef));
}

/** A random object tree over the keys and kinds redaction cares about. */
function randomTree(seed: number): unknown {
  let s = seed;
  const rand = (n: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
  const keys = ['kind', 'data', 'stringData', 'items', 'containers', 'initContainers', 'env', 'value', 'status', 'token', 'metadata', 'annotations', LAST_APPLIED, '__proto__', 'name', 'spec'];
  const kinds = ['Secret', 'SecretList', 'TokenRequest', 'Pod', 'ConfigMap'];
  const scalar = () => [() => `s${rand(100)}`, () => rand(1000), () => rand(2) === 0, () => null, () => 'caf\u00e9 \ud800'][rand(5)]!();
  const node = (depth: number, key: string): unknown => {
    if (key === 'kind') return rand(6) === 0 ? 7 : kinds[rand(kinds.length)];
    if (key === LAST_APPLIED) return rand(2) === 0 ? JSON.stringify({ kind: 'Secret', data: { p: 'aGk=' } }) : 'not json';
    if (depth > 5 || rand(4) === 0) return scalar();
    if (key === 'data' || key === 'stringData') {
      // Secret data values are strings (the one documented difference is for objects there).
      return Object.fromEntries(Array.from({ length: rand(4) }, (_, i) => [`k${i}`, `v${rand(100)}`]));
    }
    if (rand(3) === 0) return Array.from({ length: rand(4) }, () => node(depth + 1, ''));
    const obj: Record<string, unknown> = {};
    for (let i = 0, n = rand(6); i < n; i++) {
      const k = keys[rand(keys.length)]!;
      Object.defineProperty(obj, k, { value: node(depth + 1, k), enumerable: true, writable: true, configurable: true });
    }
    return obj;
  };
  const top = node(0, 'spec');
  return typeof top === 'object' && top !== null && !Array.isArray(top) ? top : { value: top };
}

describe('large bodies: scanned, not decoded', () => {
  it('the scanner accepts exactly what JSON.parse accepts', () => {
    const cases = [
      '{}', '[]', '{"a":[1,2,{"b":null}]}', ' { "a" : 1 } ', '"x"', '-0.5e+3', '[1e400]', '"\\u00e9\\n"', '{"a":"\\ud800"}',
      '{', '{"a":}', '{"a":1,}', '[1,]', '[01]', '[1.]', '[.5]', '["\\x"]', '["\\u12g4"]', '["a\nb"]', '{"a" 1}', '[tru]', '[nul]',
      '{"a":1}}', '[1 2]', '{1:2}', '"unterminated', '[-]', '[1e]', '["\t"]', '{"a":1 "b":2}', '[,1]', '',
    ];
    for (const text of cases) {
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      let scans = true;
      try {
        const buf = Buffer.from(text);
        let i = 0;
        while (i < buf.length && ' \n\r\t'.includes(String.fromCharCode(buf[i]!))) i++;
        let end = valueEnd(buf, i, Infinity);
        while (end < buf.length && ' \n\r\t'.includes(String.fromCharCode(buf[end]!))) end++;
        if (end !== buf.length) scans = false;
      } catch (err) {
        expect(err).to.be.instanceOf(JsonScanError);
        scans = false;
      }
      expect(scans, JSON.stringify(text)).to.equal(parses);
    }
  });

  it('redacts as it streams exactly as redaction of the decoded body does: handwritten cases', () => {
    const cases: [unknown, AuditEvent['objectRef']?][] = [
      // The kind after the data: the first pass finds it.
      [{ data: { p: 'aHVudGVyMg==' }, metadata: { name: 's' }, kind: 'Secret' }],
      [{ kind: 'SecretList', items: [{ data: { p: 'YQ==' }, stringData: { q: 'b' } }, 'x', { metadata: {} }] }],
      [{ kind: 'List', items: [{ kind: 'Secret', data: { p: 'YQ==' } }, { kind: 'ConfigMap', data: { p: 'YQ==' } }] }],
      // About secrets: a body without a kind (a merge patch) and the items of a list response.
      [{ data: { p: 'YQ==' } }, secretRef],
      [{ metadata: {}, items: [{ data: { p: 'YQ==' } }] }, secretRef],
      [{ kind: 'TokenRequest', status: { token: 'eyJhbGciOi', expirationTimestamp: 'x' } }],
      [{ kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'P', value: 'hunter2' }, { name: 'Q', valueFrom: {} }] }], initContainers: [{ env: [{ value: 3 }] }] } } } }],
      [{ metadata: { annotations: { [LAST_APPLIED]: '{"kind":"Secret","data":{"p":"YQ=="}}', other: 'x' } } }],
      [{ metadata: { annotations: { [LAST_APPLIED]: 'not json' } } }],
      [{ kind: 'Secret', data: { p: `${REDACTED_PREFIX}${'0'.repeat(64)}` } }],
      [{ kind: 'Secret', kind2: 1, data: 'a string, not a map' }],
      [{ n: [0, -1, 1.5, 1e21, 123456789012345678, 0.1] }],
      // Secret data keys that redaction treats by name (found in review): walked before hashed.
      [{ kind: 'Secret', data: { containers: [{ env: [{ value: 'S1' }] }], [LAST_APPLIED]: ' {"a":1.0}' } }],
      [{ data: { initContainers: [{ env: [{ value: 'S1' }] }] } }, secretRef],
      [{ kind: 'Secret', data: { p: 'YQ==', p2: { kind: 'Secret', data: { q: 'Yg==' } } } }],
    ];
    for (const [body, ref] of cases) {
      expectSameRedaction(JSON.stringify(body), ref);
      expectSameRedaction(JSON.stringify(body, null, 2), ref);
    }
    // Escaped keys and kinds, numbers in other spellings, ill-formed strings, __proto__ and duplicate keys.
    expectSameRedaction('{"\\u006bind":"Secr\\u0065t","data":{"p":"YQ=="}}');
    expectSameRedaction('{"kind":"Secret","kind":"ConfigMap","data":{"p":"YQ=="}}');
    expectSameRedaction('{"n":[1.0,1E2,-0,1e400,0.10],"s":"\\ud800 x \\udc00","\\ud83d":"\\/"}');
    expectSameRedaction('{"__proto__":{"kind":"Secret","data":{"p":"YQ=="}},"x":1}');
    expectSameRedaction(Buffer.from([...Buffer.from('{"s":"a'), 0xff, 0xc3, ...Buffer.from('"}')]).toString('latin1'));
  });

  it('redacts as it streams exactly as redaction of the decoded body does: 2,000 random trees', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const text = JSON.stringify(randomTree(seed));
      expectSameRedaction(text);
      if (seed % 4 === 0) expectSameRedaction(text, secretRef);
    }
  });

  it('redacts as it streams exactly as redaction of the decoded body does: every body of the corpus', function () {
    const dir = corpusDir(this);
    if (!dir) return;
    let bodies = 0;
    for (const file of readdirSync(join(dir, 'audit', 'falco')).filter((f) => f.endsWith('.json'))) {
      for (const line of readFileSync(join(dir, 'audit', 'falco', file), 'utf8').split('\n')) {
        if (!line.trim().startsWith('{')) continue;
        const event = JSON.parse(line) as AuditEvent;
        for (const body of [event.requestObject, event.responseObject]) {
          if (typeof body !== 'object' || body === null || Array.isArray(body)) continue;
          expectSameRedaction(JSON.stringify(body), event.objectRef);
          bodies++;
        }
      }
    }
    expect(bodies).to.be.greaterThan(20);
  });

  it('cuts a body over the threshold into its events: each decoded, large bodies kept as bytes, bad items alone refused', () => {
    const big = { kind: 'SecretList', items: Array.from({ length: 60_000 }, (_, i) => ({ metadata: { name: `s${i}` }, data: { password: `c2VjcmV0LXZhbHVlLSR7aX0=${i}` } })) };
    const small = makeEvent({ auditID: 'small', verb: 'get' });
    const large = makeEvent({ auditID: 'large', verb: 'list', objectRef: secretRef, responseObject: 'BIG' });
    const wide = makeEvent({ auditID: 'wide', user: { username: 'u', extra: { x: ['y'.repeat(LARGE_BODY_BYTES)] } } });
    const deep = `{"kind":"Event","auditID":"deep","requestObject":${'['.repeat(300)}${'1,'.repeat(LARGE_BODY_BYTES / 2)}1${']'.repeat(300)}}`;
    const text = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${JSON.stringify(small)},${JSON.stringify(large).replace('"BIG"', JSON.stringify(big))},${JSON.stringify(wide)},${deep}]}`;
    expect(text.length).to.be.greaterThan(3 * LARGE_BODY_BYTES);
    const value = decodeWithLargeBodies(Buffer.from(text)) as { items: unknown[] };
    expect(value.items[0]).to.deep.equal(JSON.parse(JSON.stringify(small)));
    const outcome = parsePayload(value, '');
    if ('notAudit' in outcome) throw new Error(outcome.notAudit);
    expect(outcome.events.map((e) => e.event.auditID)).to.deep.equal(['small', 'large']);
    expect(outcome.rejected.map((r) => r.position)).to.deep.equal(['item 2', 'item 3']);
    expect(outcome.rejected[0]!.reason).to.match(/^user: \d+ bytes; only a requestObject or responseObject/);
    expect(outcome.rejected[1]!.reason).to.match(/nests deeper than/);
    const stored = outcome.events[1]!;
    expect(stored.event.responseObject).to.be.instanceOf(LargeBody);
    // The store's form of it: every Secret value redacted, nothing else lost.
    const prepared = prepareEvent(stored, 'c', redact);
    const kept = inflateRawSync(prepared.response!).toString('utf8');
    expect(kept).to.not.include('c2VjcmV0LXZhbHVl');
    expect(JSON.parse(kept)).to.deep.equal(treeForm(JSON.stringify(big), secretRef));
  });

  it('never decodes a huge secret value or map, and refuses a body whose redaction would balloon', () => {
    const big = 'x'.repeat(2 << 20);
    // A Secret map or a token over 1 MiB: hidden whole as its text, not decoded.
    for (const body of [{ kind: 'Secret', data: { a: { big } } }, { kind: 'TokenRequest', status: { token: big } }]) {
      const out = redactLargeBody(Buffer.from(JSON.stringify(body)), redact, false);
      expect(out.length).to.be.lessThan(1000);
      expect(out.toString()).to.not.include('xxxx');
    }
    // 30 MB of one duplicated key: the map is hidden whole, not once per copy.
    const dup = Buffer.from(`{"kind":"Secret","data":{${'"":0,'.repeat(6_000_000)}"":0}}`);
    expect(redactLargeBody(dup, redact, false).length).to.be.lessThan(1000);
    // Many small maps of short values: each value's marker is 88 bytes.
    const items = Array.from({ length: 20_000 }, () => ({ data: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 0])) }));
    const balloon = Buffer.from(JSON.stringify({ kind: 'SecretList', items }));
    expect(balloon.length).to.be.greaterThan(LARGE_BODY_BYTES);
    expect(() => redactLargeBody(balloon, redact, false)).to.throw(LargeBodyRedactionError);
    // Stored with a marker that says so, the event itself kept.
    const event = parsedEvent(makeEvent({ auditID: 'balloon', responseObject: {} }));
    event.event.responseObject = new LargeBody(balloon);
    const kept = inflateRawSync(prepareEvent(event, 'c', redact).response!).toString('utf8');
    expect(JSON.parse(kept)).to.match(/^kubetrail:redacted:body-not-kept: /);
  });

  it('refuses a body that is not JSON, and an unreadable event sent alone', () => {
    const pad = ' '.repeat(LARGE_BODY_BYTES);
    expect(() => decodeWithLargeBodies(Buffer.from(`{"items":[${pad}1,]}`))).to.throw(JsonScanError, /Unexpected token '\]'/);
    expect(() => decodeWithLargeBodies(Buffer.from(`{"items":[]}${pad}x`))).to.throw(JsonScanError, /after JSON/);
    const alone = decodeWithLargeBodies(Buffer.from(`{"kind":"Event","annotations":"${'a'.repeat(LARGE_BODY_BYTES)}"}`));
    expect(alone).to.be.instanceOf(UnreadableItem);
  });
});
