import { Detector } from '../../shared/detect/engine.js';
import { IngestPipeline } from '../../shared/pipeline/ingestPipeline.js';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decisionOf } from '../../shared/audit/decision.js';
import { parseEvent } from '../../shared/audit/parseEvent.js';
import { parsePayload } from '../../shared/audit/parsePayload.js';
import { quarantineForm } from '../../shared/audit/quarantineForm.js';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from '../../shared/audit/jsonDepth.js';
import { JsonScanError, skipSpace, valueEnd } from '../../shared/audit/jsonScan.js';
import { REDACTED_PREFIX, createRedactor, isSecretRequest, redactBodies, redactUntrusted } from '../../shared/audit/redact.js';
import { redactLargeBody } from '../../shared/audit/redactStream.js';
import { makeWellFormed } from '../../shared/audit/wellFormed.js';
import { systemClock } from '../../services/cli/clock.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError, InputError } from '../../shared/errors.js';
import { parseActionFilter, type ActionFilterParams } from '../../shared/query/actionFilter.js';
import { parseObjects } from '../../shared/rbac/parseObjects.js';
import { EventWriter } from '../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { verifyChain } from '../../shared/storage/sqlite/chain/verifyChain.js';

/**
 * Fuzz targets: each takes one input and throws PropertyViolation when a property it states
 * does not hold. A documented error (InputError, ConfigError) is an answer, not a failure;
 * anything else thrown is a failure too.
 */
export class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

export interface FuzzTarget {
  name: string;
  /** What must hold for every input. */
  property: string;
  seeds: string[];
  run(input: string): void;
}

const redact = createRedactor(Buffer.alloc(32, 3));

/** Inputs that once broke a target (test/fuzz/seeds/TARGET-*.txt): kept as seeds, so they stay fixed. */
function regressionSeeds(target: string): string[] {
  const dir = join(process.cwd(), 'test', 'fuzz', 'seeds');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith(`${target}-`)).map((f) => readFileSync(join(dir, f), 'utf8'));
}
const SECRET = 'Fuzz-Planted-Secret-93';
const event = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Request', auditID: '6f0c1b2a-0000-4000-8000-000000000001', stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/a/secrets/s', verb: 'create', user: { username: 'alice', groups: ['dev'] },
    objectRef: { resource: 'secrets', namespace: 'a', name: 's', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 201 },
    requestReceivedTimestamp: '2026-07-23T10:00:00.000001Z', stageTimestamp: '2026-07-23T10:00:00.000002Z', ...extra,
  });
const EVENT_SEEDS = [
  event({ requestObject: { kind: 'Secret', data: { p: SECRET }, stringData: { q: SECRET } } }),
  event({ requestObject: [{ op: 'add', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: JSON.stringify({ kind: 'Secret', stringData: { p: SECRET } }) }] }),
  event({ apiVersion: 'audit.k8s.io/v1beta1', timestamp: '2018-10-26T13:42:46Z', metadata: { creationTimestamp: '2018-10-26T13:42:46Z' } }),
  event({ responseStatus: { code: 403, message: 'secrets "s" is forbidden: User "alice" cannot create resource "secrets"' } }),
  `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${event()},${event({ stage: 'RequestReceived' })}]}`,
  // Regression seeds: what found bugs here (deep nesting, lone surrogates, __proto__ keys).
  `[${event({ requestObject: 'DEEP' }).replace('"DEEP"', '['.repeat(3000) + ']'.repeat(3000))}]`,
  event({ userAgent: 'U' }).replace('"U"', '"\\ud800\\udfff\\ud83d"'),
  event({ requestObject: 'P' }).replace('"P"', '{"kind":"ConfigMap","data":{"__proto__":"x"},"__proto__":{"polluted":1}}'),
];

function mustBeWellFormed(value: unknown, where: string): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string' && !v.isWellFormed()) throw new PropertyViolation(`${where}: an ill-formed string got through`);
    if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) {
      if (!k.isWellFormed()) throw new PropertyViolation(`${where}: an ill-formed key got through`);
      stack.push(x);
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const masked = (v: unknown) => typeof v === 'string' && v.startsWith(REDACTED_PREFIX);

/** A Secret request's body after redaction: every value of its data and stringData, and what JSON-patch ops put there or in the last-applied annotation, masked. */
function secretValuesMasked(body: unknown): void {
  if (isRecord(body) && (body.kind === undefined || body.kind === 'Secret')) {
    for (const field of ['data', 'stringData']) {
      const map = body[field];
      if (isRecord(map) && !Object.values(map).every(masked)) throw new PropertyViolation(`a Secret ${field} value survived redaction`);
    }
  }
  if (!Array.isArray(body)) return;
  for (const op of body) {
    if (!isRecord(op) || typeof op.path !== 'string' || op.value === undefined) continue;
    const segments = op.path.split('/');
    const last = segments.at(-1)!.replaceAll('~1', '/').replaceAll('~0', '~');
    if ((segments[1] === 'data' || segments[1] === 'stringData') && JSON.stringify(op.value).includes(SECRET)) throw new PropertyViolation('a JSON patch of Secret data survived redaction');
    if (last === 'kubectl.kubernetes.io/last-applied-configuration') {
      const inner = typeof op.value === 'string' ? decode(op.value) : undefined;
      if (inner === undefined) {
        if (!masked(op.value)) throw new PropertyViolation('a last-applied configuration that is not JSON survived redaction');
      } else secretValuesMasked(inner);
    }
  }
}

/** A copy with every object's keys in order: to compare values whose key order may differ. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) Object.defineProperty(out, k, { value: sortKeys((value as Record<string, unknown>)[k]), enumerable: true });
  return out;
}

const decode = (input: string): unknown => {
  try {
    return JSON.parse(input);
  } catch {
    return undefined;
  }
};

export const TARGETS: FuzzTarget[] = [
  {
    name: 'parse',
    property: 'the payload parser and event validator never throw; accepted events have well-formed strings and a decision',
    seeds: EVENT_SEEDS,
    run(input) {
      const value = decode(input);
      if (value === undefined) return;
      const outcome = parsePayload(value, 'fuzz');
      if ('notAudit' in outcome) return;
      for (const e of outcome.events) {
        mustBeWellFormed(e.event, 'parse');
        decisionOf(e.event);
      }
    },
  },
  {
    name: 'redact',
    property: 'redaction never throws, is idempotent, and no planted Secret value survives it',
    seeds: EVENT_SEEDS,
    run(input) {
      const value = decode(input);
      if (value === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) return;
      const parsed = parseEvent(value, 'fuzz');
      if (!('event' in parsed)) return;
      const once = redactBodies(parsed.event, redact);
      const twice = redactBodies({ ...parsed.event, ...once }, redact);
      if (JSON.stringify(once) !== JSON.stringify(twice)) throw new PropertyViolation('redaction is not idempotent');
      const ref = parsed.event.objectRef;
      if (ref?.resource === 'secrets' && !ref.apiGroup && !ref.subresource) secretValuesMasked(once.requestObject);
    },
  },
  {
    name: 'stream',
    property: 'the scanner accepts exactly what JSON.parse accepts, and redaction as it streams keeps what redaction of the decoded body keeps',
    seeds: EVENT_SEEDS.concat(EVENT_SEEDS.map((s) => JSON.stringify(JSON.parse(s), null, 1))),
    run(input) {
      // As the webhook reads it: bytes, decoded as UTF-8.
      const bytes = Buffer.from(input);
      const value = decode(bytes.toString('utf8'));
      let scanned = false;
      try {
        const start = skipSpace(bytes, 0);
        scanned = skipSpace(bytes, valueEnd(bytes, start, Infinity)) === bytes.length;
      } catch (err) {
        if (!(err instanceof JsonScanError)) throw err;
      }
      if (scanned !== (value !== undefined)) throw new PropertyViolation(`the scanner ${scanned ? 'accepts' : 'refuses'} what JSON.parse ${scanned ? 'refuses' : 'accepts'}`);
      // Bodies never nest deeper than an event may (largeBody.ts checks before anything walks them).
      if (typeof value !== 'object' || value === null || Array.isArray(value) || nestsDeeperThan(value, MAX_EVENT_DEPTH)) return;
      const event = parseEvent(decode(bytes.toString('utf8')), 'fuzz');
      // Keys that only become equal once made well formed ("\ud800" and "\ufffd"): which one
      // wins differs (both are kept, redacted alike, as all duplicate keys are); secrets are still masked.
      const mayCollide = /\\u[dD][89a-fA-F]|\ufffd/.test(input);
      const secrets = 'event' in event && isSecretRequest(event.event);
      // The input as it came (its escapes, spaces, duplicate keys), and its request body.
      for (const [body, text] of [[value, bytes], [(value as Record<string, unknown>).requestObject, null]] as const) {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) continue;
        const streamed = redactLargeBody(text ?? Buffer.from(JSON.stringify(body)), redact, secrets).toString('utf8');
        makeWellFormed(body);
        const tree = JSON.stringify(redactBodies({ requestObject: body, objectRef: secrets ? { resource: 'secrets' } : undefined } as never, redact).requestObject);
        if (mayCollide) {
          if (secrets) secretValuesMasked(JSON.parse(streamed));
          continue;
        }
        // Equal as values: duplicate keys and key order are the documented differences.
        if (JSON.stringify(sortKeys(JSON.parse(streamed))) !== JSON.stringify(sortKeys(JSON.parse(tree)))) throw new PropertyViolation('redaction as it streams differs from redaction of the decoded body');
      }
    },
  },
  {
    name: 'quarantine',
    property: 'quarantined input never keeps a planted value of data, stringData, token or value, cut or whole',
    seeds: EVENT_SEEDS.map((s) => s.slice(0, Math.floor(s.length * 0.7))).concat(EVENT_SEEDS, [`{"token": ${SECRET}`, `"value":"${SECRET}`], regressionSeeds('quarantine')),
    run(input) {
      const kept = quarantineForm(input, redact, 1 << 16).kept.toString('utf8');
      const planted = new RegExp(`"(data|stringData|token|value)"\\s*:\\s*"${SECRET}`);
      if (planted.test(kept)) throw new PropertyViolation('a planted secret survived the quarantine form');
      const untrusted = decode(input);
      if (untrusted !== undefined && !JSON.stringify(redactUntrusted(untrusted, redact) ?? null).length) throw new PropertyViolation('redactUntrusted lost its input');
    },
  },
  {
    name: 'chain',
    property: 'what is written verifies: encode, store, read back and hash give the chain recorded',
    seeds: EVENT_SEEDS,
    run(input) {
      const value = decode(input);
      if (value === undefined) return;
      const outcome = parsePayload(value, 'fuzz');
      if ('notAudit' in outcome || outcome.events.length === 0) return;
      const store = openStore(':memory:', { clock: systemClock });
      try {
        const key = Buffer.alloc(32, 3);
        new EventWriter(store, 1 << 16, { clock: systemClock, redactionKey: key }).writeRecords([new IngestPipeline({ redactionKey: key, detector: new Detector(), splitTokens: true }).prepare({ cluster: 'fuzz', source: 'fuzz', events: outcome.events, rejected: outcome.rejected })]);
        const report = verifyChain(store.db);
        if (!report.ok) throw new PropertyViolation(`verify failed on what was just written: ${JSON.stringify(report.problems).slice(0, 300)}`);
      } finally {
        store.close();
      }
    },
  },
  {
    name: 'params',
    property: 'the API parameter parser answers every query with a filter or an InputError',
    seeds: ['user=alice&since=24h', 'decision=forbid&code=400-499&source-ip=10.0.0.0/8', 'resource=pods/exec&since=9999999999999d', 'until=2026-13-45T00:00:00Z&limit=-1'],
    run(input) {
      const params = Object.fromEntries(new URLSearchParams(input)) as ActionFilterParams;
      try {
        parseActionFilter(params, Date.UTC(2026, 0, 1));
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
      }
    },
  },
  {
    name: 'rbac',
    property: 'the RBAC object loader reports problems, never throws',
    seeds: [
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [""], resources: [pods], verbs: [get]}]',
      '{"kind":"List","items":[{"kind":"RoleBinding","metadata":{"name":"b","namespace":"n"},"roleRef":{"kind":"Role","name":"r"},"subjects":[{"kind":"User","name":"u"}]}]}',
      'kind: ClusterRole\nmetadata: {name: &a x}\naggregationRule: {clusterRoleSelectors: [{matchLabels: *a}]}',
    ],
    run(input) {
      parseObjects(input, 'fuzz.yaml');
    },
  },
  {
    name: 'config',
    property: 'the config loader answers every file with a configuration or a ConfigError',
    seeds: ['listen: 127.0.0.1:8080\nretention: {days: 400}', 'webhook: {tokens: [short]}', 'kafka: {brokers: [localhost]}', 'server: {allowedHosts: ["*.example.com"]}', 'retention: {days: 400, deleteArchivesAfterDays: 10}'],
    run(input) {
      const file = join(tmpdir(), `kubetrail-fuzz-config-${process.pid}.yaml`);
      writeFileSync(file, input);
      try {
        loadConfig({ file, env: {} });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    },
  },
];
