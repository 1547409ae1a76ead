import { createHmac } from 'node:crypto';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from './jsonDepth.js';
import { redactExecUri } from './execCommand.js';
import { LargeBody } from './largeBody.js';
import { setOwn } from './ownProperty.js';
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

export const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A redactor keyed with the store's secret. A marker is never redacted again: redaction is idempotent. */
export function createRedactor(key: Uint8Array): Redactor {
  return (value: unknown) => {
    if (typeof value === 'string' && value.startsWith(REDACTED_PREFIX)) return value;
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
    return REDACTED_PREFIX + createHmac('sha256', key).update(text).digest('hex');
  };
}

/**
 * The event's bodies with secret values replaced; the event itself is not changed. A LargeBody
 * is left as it is, for the store to redact as it streams (redactStream.ts).
 */
export function redactBodies(event: AuditEvent, redact: Redactor): { requestObject?: unknown; responseObject?: unknown } {
  const out: { requestObject?: unknown; responseObject?: unknown } = {};
  for (const field of ['requestObject', 'responseObject'] as const) {
    const body = event[field];
    if (body !== undefined) out[field] = body instanceof LargeBody ? body : redactValue(body, redact, isSecretRequest(event));
  }
  return out;
}

/** Whether the request is about core `secrets`: its bodies are Secrets even without a kind (merge patches, list items). */
export function isSecretRequest(event: AuditEvent): boolean {
  const ref = event.objectRef;
  return ref?.resource === 'secrets' && !ref.apiGroup && !ref.subresource;
}

/**
 * `isSecretRequest`: the request is about core `secrets`, so a body without a kind (a merge
 * patch) is a Secret, and so is every item of a list (list responses leave `kind` off items).
 */
function redactValue(body: unknown, redact: Redactor, isSecretRequest: boolean): unknown {
  if (Array.isArray(body) && body.every(isJsonPatchOp)) return body.map((op) => redactPatchOp(op, redact, isSecretRequest));
  // A body about Secrets that is neither an object nor a JSON patch (found by fuzzing: a patch
  // with a mangled "op" key): every data, stringData, token and value in it is redacted.
  const out = walk(body, redact, isSecretRequest && !isRecord(body));
  if (!isSecretRequest || !isRecord(out)) return out;
  const secret = out.kind === undefined ? secretRedacted(out, redact) : out;
  return Array.isArray(secret.items) ? { ...secret, items: secret.items.map((item) => (isRecord(item) ? secretRedacted(item, redact) : item)) } : secret;
}

/**
 * `value` with Secrets, TokenRequests, container env values and the last-applied annotation
 * found in it redacted. `suspicious` (quarantined input, whose shape is not trusted): also
 * every value of a `data` or `stringData` map and every `token` and `value`.
 *
 * Copy on write: what needs no redaction is shared with `value`, not copied, so a 30 MB
 * ConfigMap costs one tree in memory, not two; nothing reachable from `value` is changed.
 * Recursion is bounded: events nesting deeper than MAX_EVENT_DEPTH never get here.
 */
function walk(value: unknown, redact: Redactor, suspicious = false): unknown {
  if (Array.isArray(value)) return mapShared(value, (v) => walk(v, redact, suspicious));
  if (!isRecord(value)) return value;
  let out: Record<string, unknown> | undefined;
  // Keys, not entries: a body of millions of keys must not get millions of [key, value] pairs too.
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = value[k];
    let copy: unknown;
    if (CONTAINER_LISTS.has(k) && Array.isArray(v)) copy = mapShared(v, (c) => redactContainer(walk(c, redact, suspicious), redact));
    else if (k === LAST_APPLIED && typeof v === 'string') copy = redactApplied(v, redact);
    else if (suspicious && (k === 'data' || k === 'stringData') && isRecord(v)) copy = mapValues(v, redact);
    else if (suspicious && (k === 'token' || k === 'value') && v !== null && typeof v !== 'object') copy = redact(v);
    else copy = walk(v, redact, suspicious);
    if (out === undefined && copy !== v) {
      out = {};
      for (let j = 0; j < i; j++) setOwn(out, keys[j]!, value[keys[j]!]);
    }
    if (out !== undefined) setOwn(out, k, copy);
  }
  let result = out ?? value;
  if (result.kind === 'Secret') result = secretRedacted(result, redact);
  if (result.kind === 'SecretList' && Array.isArray(result.items)) {
    result = { ...result, items: result.items.map((item) => (isRecord(item) ? secretRedacted(item, redact) : item)) };
  }
  if (result.kind === 'TokenRequest' && isRecord(result.status) && result.status.token !== undefined) {
    result = { ...result, status: { ...result.status, token: redact(result.status.token) } };
  }
  return result;
}

/**
 * A member of a decoded object, redacted as walk() redacts it within that object (its key
 * decides: container lists, the last-applied annotation): what a secret value is before it
 * becomes its marker.
 */
export function redactMember(key: string, value: unknown, redact: Redactor): unknown {
  const one: Record<string, unknown> = {};
  setOwn(one, key, value);
  return (walk(one, redact) as Record<string, unknown>)[key];
}

/** A Secret's data or stringData map as the Secret's redaction leaves it: each value walked, then its marker. */
export function redactSecretMap(map: Record<string, unknown>, redact: Redactor): Record<string, unknown> {
  return mapValues(walk(map, redact) as Record<string, unknown>, redact);
}

/** `items.map(f)`, or `items` itself when `f` changed none of them. */
function mapShared(items: unknown[], f: (v: unknown) => unknown): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const v = f(items[i]);
    if (out === undefined && v !== items[i]) out = items.slice(0, i);
    out?.push(v);
  }
  return out ?? items;
}

/** A copy of `secret` with its `data` and `stringData` values redacted (spread keeps a `__proto__` key as its own). */
function secretRedacted(secret: Record<string, unknown>, redact: Redactor): Record<string, unknown> {
  const out = { ...secret };
  for (const field of ['data', 'stringData']) {
    const map = out[field];
    if (isRecord(map)) out[field] = mapValues(map, redact);
  }
  return out;
}

/**
 * `kubectl apply` keeps the whole applied object, as JSON text, in an annotation: a Secret's
 * data, a Deployment's env values. Wherever the annotation appears (an object, a merge,
 * strategic-merge or apply patch, a JSON-patch value), it is redacted like the object itself;
 * text that is not JSON, or nests too deep, is redacted whole.
 */
export function redactApplied(applied: string, redact: Redactor): string {
  try {
    const parsed: unknown = JSON.parse(applied);
    if (nestsDeeperThan(parsed, MAX_EVENT_DEPTH)) return redact(applied);
    const inner = walk(parsed, redact);
    // Without a kind, its data may be a Secret's (the annotation of a Secret, a patch of one).
    return JSON.stringify(isRecord(inner) && (inner.kind === 'Secret' || inner.kind === undefined) ? secretRedacted(inner, redact) : inner);
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
    return { ...op, value: secretRedacted(walk(op.value, redact) as Record<string, unknown>, redact) };
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
  const out = { ...(walk(value, redact, true) as Record<string, unknown>) };
  for (const field of ['requestObject', 'responseObject']) {
    if (value[field] !== undefined) out[field] = walk(redactValue(value[field], redact, isSecretRequest), redact, true);
  }
  if (Array.isArray(value.items)) out.items = value.items.map((v) => redactUntrusted(v, redact));
  // Secrets typed into an exec's arguments, as in a stored event (execCommand.ts).
  if (typeof value.requestURI === 'string' && value.requestURI.includes('command=')) out.requestURI = redactExecUri(value.requestURI, redact);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
