import { createHmac } from 'node:crypto';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from './jsonDepth.js';
import type { AuditEvent } from './types.js';

/**
 * Redaction of secret values in request/response bodies before anything is stored
 * (PRODUCT.md "Storage and redaction"). A value becomes `kubetrail:redacted:<hash>`, where the
 * hash is the whole keyed HMAC-SHA256: two equal secrets still show as equal, and a stolen
 * copy of the store cannot be checked against a dictionary of likely secrets without the key,
 * which is kept outside the store (storage/redactionKey.ts).
 *
 * What is redacted:
 * - Secret `data` and `stringData` values: Secrets by kind anywhere in a body, the items of a
 *   SecretList, and — in requests about core `secrets` — bodies without a kind (merge patches)
 *   and list items (list responses leave `kind` off their items);
 * - JSON-patch values under /data or /stringData of secrets;
 * - the `kubectl.kubernetes.io/last-applied-configuration` annotation of any object (it holds
 *   the whole applied object as text), redacted like the object itself;
 * - TokenRequest `status.token`;
 * - container `env[].value` in every `containers`, `initContainers` and `ephemeralContainers`
 *   list at any depth (pods, templates of workloads, patches), and in JSON-patch values that
 *   are a container list, a container, an env list or an env var.
 */
export const REDACTED_PREFIX = 'kubetrail:redacted:';

export type Redactor = (value: unknown) => string;

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A redactor keyed with the store's secret. A marker is never redacted again: redaction is idempotent. */
export function createRedactor(key: Uint8Array): Redactor {
  return (value: unknown) => {
    if (typeof value === 'string' && value.startsWith(REDACTED_PREFIX)) return value;
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
    return REDACTED_PREFIX + createHmac('sha256', key).update(text).digest('hex');
  };
}

/** The event's bodies with secret values replaced; the event itself is not changed. */
export function redactBodies(event: AuditEvent, redact: Redactor): { requestObject?: unknown; responseObject?: unknown } {
  const ref = event.objectRef;
  const isSecretRequest = ref?.resource === 'secrets' && !ref.apiGroup && !ref.subresource;
  const out: { requestObject?: unknown; responseObject?: unknown } = {};
  if (event.requestObject !== undefined) {
    out.requestObject = redactValue(event.requestObject, redact, isSecretRequest);
  }
  if (event.responseObject !== undefined) {
    out.responseObject = redactValue(event.responseObject, redact, isSecretRequest);
  }
  return out;
}

/**
 * `isSecretRequest`: the request is about core `secrets`, so a body without a kind (a merge
 * patch) is a Secret, and so is every item of a list (list responses leave `kind` off items).
 */
function redactValue(body: unknown, redact: Redactor, isSecretRequest: boolean): unknown {
  if (Array.isArray(body) && body.every(isJsonPatchOp)) return body.map((op) => redactPatchOp(op, redact, isSecretRequest));
  // A body about Secrets that is neither an object nor a JSON patch (found by fuzzing: a patch
  // with a mangled "op" key): every data, stringData, token and value in it is redacted.
  const copy = walk(body, redact, isSecretRequest && !isRecord(body));
  if (isSecretRequest && isRecord(copy)) {
    if (copy.kind === undefined) redactSecretFields(copy, redact);
    if (Array.isArray(copy.items)) copy.items.forEach((item) => isRecord(item) && redactSecretFields(item, redact));
  }
  return copy;
}

/**
 * Deep copy of `value`, redacting Secrets, TokenRequests, container env values and the
 * last-applied annotation found in it. `suspicious` (quarantined input, whose shape is not
 * trusted): also every value of a `data` or `stringData` map and every `token` and `value`.
 * Recursion is bounded: events nesting deeper than MAX_EVENT_DEPTH never get here.
 */
function walk(value: unknown, redact: Redactor, suspicious = false): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, redact, suspicious));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  // Keys, not entries: a body of millions of keys must not get millions of [key, value] pairs too.
  for (const k of Object.keys(value)) {
    const v = value[k];
    let copy: unknown;
    if (CONTAINER_LISTS.has(k) && Array.isArray(v)) copy = v.map((c) => redactContainer(walk(c, redact, suspicious), redact));
    else if (k === LAST_APPLIED && typeof v === 'string') copy = redactApplied(v, redact);
    else if (suspicious && (k === 'data' || k === 'stringData') && isRecord(v)) copy = mapValues(v, redact);
    else if (suspicious && (k === 'token' || k === 'value') && v !== null && typeof v !== 'object') copy = redact(v);
    else copy = walk(v, redact, suspicious);
    setOwn(out, k, copy);
  }
  if (out.kind === 'Secret') redactSecretFields(out, redact);
  if (out.kind === 'SecretList' && Array.isArray(out.items)) out.items.forEach((item) => isRecord(item) && redactSecretFields(item, redact));
  if (out.kind === 'TokenRequest' && isRecord(out.status) && out.status.token !== undefined) {
    out.status = { ...out.status, token: redact(out.status.token) };
  }
  return out;
}

/** `obj[key] = value` as an own property, also for `__proto__` (a ConfigMap key may be named so). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function redactSecretFields(secret: Record<string, unknown>, redact: Redactor): void {
  for (const field of ['data', 'stringData']) {
    const map = secret[field];
    if (isRecord(map)) secret[field] = mapValues(map, redact);
  }
}



/**
 * `kubectl apply` keeps the whole applied object, as JSON text, in an annotation: a Secret's
 * data, a Deployment's env values. Wherever the annotation appears (an object, a merge,
 * strategic-merge or apply patch, a JSON-patch value), it is redacted like the object itself;
 * text that is not JSON, or nests too deep, is redacted whole.
 */
function redactApplied(applied: string, redact: Redactor): string {
  try {
    const parsed: unknown = JSON.parse(applied);
    if (nestsDeeperThan(parsed, MAX_EVENT_DEPTH)) return redact(applied);
    const inner = walk(parsed, redact);
    // Without a kind, its data may be a Secret's (the annotation of a Secret, a patch of one).
    if (isRecord(inner) && (inner.kind === 'Secret' || inner.kind === undefined)) redactSecretFields(inner, redact);
    return JSON.stringify(inner);
  } catch {
    return redact(applied);
  }
}

function redactContainer(container: unknown, redact: Redactor): unknown {
  if (!isRecord(container) || !Array.isArray(container.env)) return container;
  return { ...container, env: container.env.map((e) => redactEnvVar(e, redact)) };
}

function redactEnvVar(env: unknown, redact: Redactor): unknown {
  return isRecord(env) && env.value !== undefined ? { ...env, value: redact(env.value) } : env;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}

function isJsonPatchOp(v: unknown): v is JsonPatchOp {
  return isRecord(v) && typeof v.op === 'string' && typeof v.path === 'string';
}

function redactPatchOp(op: JsonPatchOp, redact: Redactor, isSecretPatch: boolean): JsonPatchOp {
  if (op.value === undefined) return op;
  const segments = op.path.split('/');
  // JSON pointer escapes: ~1 is '/', ~0 is '~'.
  if (segments.at(-1)?.replaceAll('~1', '/').replaceAll('~0', '~') === LAST_APPLIED) {
    return { ...op, value: typeof op.value === 'string' ? redactApplied(op.value, redact) : redact(op.value) };
  }
  if (isSecretPatch && (segments[1] === 'data' || segments[1] === 'stringData' || op.path === '' || op.path === '/')) {
    if (segments.length > 2 || !isRecord(op.value)) return { ...op, value: redact(op.value) };
    if (segments[1] === 'data' || segments[1] === 'stringData') return { ...op, value: mapValues(op.value, redact) };
    const whole = walk(op.value, redact) as Record<string, unknown>;
    redactSecretFields(whole, redact);
    return { ...op, value: whole };
  }
  const containersAt = segments.findLastIndex((seg) => CONTAINER_LISTS.has(seg));
  if (containersAt > 0 && segments.length - containersAt <= 2) {
    // The value is a whole container list, or one container of it.
    const value = segments.length - containersAt === 1 && Array.isArray(op.value)
      ? op.value.map((c) => redactContainer(walk(c, redact), redact))
      : redactContainer(walk(op.value, redact), redact);
    return { ...op, value };
  }
  const envAt = segments.lastIndexOf('env');
  if (envAt > 0) {
    const rest = segments.length - envAt - 1; // 0: the whole list, 1: one EnvVar, 2: a field of one
    if (rest === 0 && Array.isArray(op.value)) return { ...op, value: op.value.map((e) => redactEnvVar(e, redact)) };
    if (rest === 1) return { ...op, value: redactEnvVar(op.value, redact) };
    if (rest === 2 && segments[segments.length - 1] === 'value') return { ...op, value: redact(op.value) };
  }
  return { ...op, value: walk(op.value, redact) };
}

function mapValues(map: Record<string, unknown>, redact: Redactor): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(map)) setOwn(out, k, redact(v));
  return out;
}

/**
 * Decoded JSON of any shape (quarantined input), redacted before anything is written: bodies of
 * an event-like object as a stored event's are, the items of a list each alike, and, since its
 * shape is not trusted, every `data`/`stringData` value, `token` and `value` anywhere.
 */
export function redactUntrusted(value: unknown, redact: Redactor): unknown {
  // Deeper than any event may nest: nothing of it is kept (walking it would overflow the stack).
  if (nestsDeeperThan(value, MAX_EVENT_DEPTH)) return `${REDACTED_PREFIX}nests-too-deep`;
  if (Array.isArray(value)) return value.map((v) => redactUntrusted(v, redact));
  if (!isRecord(value)) return value;
  const ref = isRecord(value.objectRef) ? value.objectRef : undefined;
  const isSecretRequest = ref?.resource === 'secrets';
  const out = walk(value, redact, true) as Record<string, unknown>;
  for (const field of ['requestObject', 'responseObject']) {
    if (value[field] !== undefined) out[field] = walk(redactValue(value[field], redact, isSecretRequest), redact, true);
  }
  if (Array.isArray(value.items)) out.items = value.items.map((v) => redactUntrusted(v, redact));
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
