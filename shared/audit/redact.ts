import { createHmac } from 'node:crypto';
import type { AuditEvent } from './types.js';

/**
 * Redaction of secret values in request/response bodies before anything is stored
 * (PRODUCT.md "Storage and redaction"). A value becomes `kubetrail:redacted:<hash>`, where the
 * hash is a keyed HMAC-SHA256 prefix: two equal secrets still show as equal, and a stolen
 * copy of the store cannot be checked against a dictionary of likely secrets without the key.
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

/** A redactor keyed with the store's secret. */
export function createRedactor(key: Uint8Array): Redactor {
  return (value: unknown) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
    return REDACTED_PREFIX + createHmac('sha256', key).update(text).digest('hex').slice(0, 12);
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
  const copy = walk(body, redact);
  if (isSecretRequest && isRecord(copy)) {
    if (copy.kind === undefined) redactSecretFields(copy, redact);
    if (Array.isArray(copy.items)) copy.items.forEach((item) => isRecord(item) && redactSecretFields(item, redact));
  }
  return copy;
}

/** Deep copy of `value`, redacting Secrets, TokenRequests and container env values found in it. */
function walk(value: unknown, redact: Redactor): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, redact));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (CONTAINER_LISTS.has(k) && Array.isArray(v)) {
      out[k] = v.map((c) => redactContainer(walk(c, redact), redact));
    } else {
      out[k] = walk(v, redact);
    }
  }
  if (out.kind === 'Secret') redactSecretFields(out, redact);
  if (out.kind === 'SecretList' && Array.isArray(out.items)) out.items.forEach((item) => isRecord(item) && redactSecretFields(item, redact));
  redactLastApplied(out, redact);
  if (out.kind === 'TokenRequest' && isRecord(out.status) && out.status.token !== undefined) {
    out.status = { ...out.status, token: redact(out.status.token) };
  }
  return out;
}

function redactSecretFields(secret: Record<string, unknown>, redact: Redactor): void {
  for (const field of ['data', 'stringData']) {
    const map = secret[field];
    if (isRecord(map)) secret[field] = mapValues(map, redact);
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * `kubectl apply` keeps the whole applied object, as JSON text, in an annotation: a Secret's
 * data, a Deployment's env values. It is redacted like the object itself; text that is not
 * JSON is redacted whole.
 */
function redactLastApplied(obj: Record<string, unknown>, redact: Redactor): void {
  const meta = obj.metadata;
  if (!isRecord(meta) || !isRecord(meta.annotations)) return;
  const applied = meta.annotations[LAST_APPLIED];
  if (typeof applied !== 'string') return;
  let redacted: string;
  try {
    const inner = walk(JSON.parse(applied), redact);
    if (obj.kind === 'Secret' && isRecord(inner)) redactSecretFields(inner, redact);
    redacted = JSON.stringify(inner);
  } catch {
    redacted = redact(applied);
  }
  obj.metadata = { ...meta, annotations: { ...meta.annotations, [LAST_APPLIED]: redacted } };
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
  for (const [k, v] of Object.entries(map)) out[k] = redact(v);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
