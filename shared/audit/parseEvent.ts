import { detectCloudFormat } from './cloudFormats.js';
import { MAX_EVENT_DEPTH } from './jsonDepth.js';
import { UnreadableItem } from './largeBody.js';
import { makeWellFormed } from './wellFormed.js';
import { parseTime } from './time.js';
import {
  API_VERSIONS,
  LEVELS,
  STAGES,
  type AuditApiVersion,
  type AuditEvent,
  type ParsedEvent,
  type RejectedInput,
} from './types.js';

/**
 * Validates one decoded JSON value as an audit Event and normalizes it to v1
 * (spec/k8s-audit.md §1–3). A bad event is a value with a reason, never an exception.
 *
 * `listVersion` is the apiVersion of the enclosing EventList, used for items that carry none.
 */
export function parseEvent(value: unknown, position: string, listVersion?: AuditApiVersion): ParsedEvent | RejectedInput {
  if (value instanceof UnreadableItem) return { position, reason: value.reason, raw: value.text };
  if (!makeWellFormed(value, MAX_EVENT_DEPTH)) {
    // Not serialized again: that would recurse as deep. The quarantine keeps what can be told.
    return { position, reason: `nests deeper than ${MAX_EVENT_DEPTH} levels of arrays and objects (the limit of an audit Event); quarantined alone`, raw: describe(value) };
  }
  const reject = (reason: string): RejectedInput => ({ position, reason, raw: safeStringify(value) });
  if (!isObject(value)) return reject(`expected an audit.k8s.io Event object, got ${describe(value)}`);

  if (value.kind !== undefined && value.kind !== 'Event') {
    return reject(`kind: expected "Event", got ${describe(value.kind)}`);
  }
  let sourceVersion: AuditApiVersion;
  let versionInferred = false;
  if (value.apiVersion !== undefined) {
    if (!API_VERSIONS.includes(value.apiVersion as AuditApiVersion)) {
      return reject(`apiVersion: expected one of ${API_VERSIONS.join(', ')}, got ${describe(value.apiVersion)}`);
    }
    sourceVersion = value.apiVersion as AuditApiVersion;
  } else if (listVersion) {
    sourceVersion = listVersion;
  } else {
    const cloud = detectCloudFormat(value);
    if (cloud) return reject(`${cloud} where an Event was expected (an item of an EventList): send the provider's records on their own, as they are delivered`);
    if (value.auditID === undefined || value.stage === undefined || value.verb === undefined) {
      return reject(`not an audit Event: no apiVersion, and ${missingIdentifying(value)} missing (expected an audit.k8s.io Event)`);
    }
    // §1: events re-serialized by other tools lose apiVersion; old fields betray v1beta1.
    const meta = value.metadata;
    sourceVersion =
      value.timestamp !== undefined || (isObject(meta) && meta.creationTimestamp !== undefined)
        ? 'audit.k8s.io/v1beta1'
        : 'audit.k8s.io/v1';
    versionInferred = true;
  }

  // A v1 Event that says so is used as it is: no copy on the hot path.
  const asIs = sourceVersion === 'audit.k8s.io/v1' && value.kind === 'Event' && value.apiVersion === sourceVersion;
  const event: Record<string, unknown> = asIs ? value : { ...value, kind: 'Event', apiVersion: 'audit.k8s.io/v1' };
  if (sourceVersion !== 'audit.k8s.io/v1') {
    const problem = convertLegacy(event, sourceVersion);
    if (problem) return reject(problem);
  }
  const problem = validateV1(event);
  if (typeof problem === 'string') return reject(problem);
  return { event: event as AuditEvent, sourceVersion, versionInferred, position, receivedAt: problem.receivedAt, stageAt: problem.stageAt };
}

/** v1beta1/v1alpha1 → v1 in place, as the apiserver's own conversion functions do (§3). */
function convertLegacy(event: Record<string, unknown>, version: AuditApiVersion): string | null {
  const meta = event.metadata;
  if (meta !== undefined && !isObject(meta)) return `metadata: expected an object, got ${describe(meta)}`;
  // Go writes a zero MicroTime as null: absent, like a missing or empty one.
  const absent = (v: unknown) => v === undefined || v === null || v === '';
  if (absent(event.requestReceivedTimestamp)) {
    if (event.timestamp !== undefined) event.requestReceivedTimestamp = event.timestamp;
  }
  if (absent(event.stageTimestamp)) {
    const created = meta?.creationTimestamp;
    if (created !== undefined && created !== null) event.stageTimestamp = created;
    else if (event.requestReceivedTimestamp !== undefined) event.stageTimestamp = event.requestReceivedTimestamp;
  }
  delete event.timestamp;
  if (meta) {
    const { creationTimestamp: _dropped, ...rest } = meta;
    if (Object.keys(rest).length === 0) delete event.metadata;
    else event.metadata = rest;
  }
  if (version === 'audit.k8s.io/v1alpha1' && isObject(event.objectRef)) {
    const ref = { ...event.objectRef };
    const gv = ref.apiVersion;
    if (typeof gv === 'string' && ref.apiGroup === undefined) {
      const slash = gv.lastIndexOf('/');
      if (slash >= 0) {
        ref.apiGroup = gv.slice(0, slash);
        ref.apiVersion = gv.slice(slash + 1);
      }
    }
    event.objectRef = ref;
  }
  return null;
}

/** The first problem with a v1-shaped event, naming the field; or, when it is valid, its times. */
function validateV1(e: Record<string, unknown>): string | { receivedAt: number; stageAt: number } {
  if (typeof e.auditID !== 'string' || e.auditID === '') return fieldProblem('auditID', e.auditID, 'a non-empty string');
  if (!STAGES.includes(e.stage as never)) return fieldProblem('stage', e.stage, `one of ${STAGES.join(', ')}`);
  if (!LEVELS.includes(e.level as never)) return fieldProblem('level', e.level, `one of ${LEVELS.join(', ')}`);
  if (typeof e.verb !== 'string') return fieldProblem('verb', e.verb, 'a string');
  if (typeof e.requestURI !== 'string') return fieldProblem('requestURI', e.requestURI, 'a string');
  const receivedAt = typeof e.requestReceivedTimestamp === 'string' ? parseTime(e.requestReceivedTimestamp) : null;
  if (receivedAt === null) return fieldProblem('requestReceivedTimestamp', e.requestReceivedTimestamp, 'an RFC 3339 time');
  const stageAt = typeof e.stageTimestamp === 'string' ? parseTime(e.stageTimestamp) : null;
  if (stageAt === null) return fieldProblem('stageTimestamp', e.stageTimestamp, 'an RFC 3339 time');
  const userProblem = validateUser('user', e.user, true) ?? validateUser('impersonatedUser', e.impersonatedUser, false);
  if (userProblem) return userProblem;
  if (e.sourceIPs !== undefined && !isStringArray(e.sourceIPs)) return fieldProblem('sourceIPs', e.sourceIPs, 'a list of strings');
  if (e.userAgent !== undefined && typeof e.userAgent !== 'string') return fieldProblem('userAgent', e.userAgent, 'a string');
  if (e.objectRef !== undefined) {
    if (!isObject(e.objectRef)) return fieldProblem('objectRef', e.objectRef, 'an object');
    for (const [k, v] of Object.entries(e.objectRef)) {
      if (typeof v !== 'string') return fieldProblem(`objectRef.${k}`, v, 'a string');
    }
  }
  if (e.responseStatus !== undefined) {
    if (!isObject(e.responseStatus)) return fieldProblem('responseStatus', e.responseStatus, 'an object');
    const code = e.responseStatus.code;
    if (code !== undefined && !Number.isInteger(code)) return fieldProblem('responseStatus.code', code, 'an integer');
  }
  if (e.annotations !== undefined) {
    if (!isObject(e.annotations)) return fieldProblem('annotations', e.annotations, 'an object');
    for (const [k, v] of Object.entries(e.annotations)) {
      if (typeof v !== 'string') return fieldProblem(`annotations["${k}"]`, v, 'a string');
    }
  }
  return { receivedAt, stageAt };
}

function validateUser(field: string, user: unknown, required: boolean): string | null {
  if (user === undefined) return required ? `${field}: missing (expected an object; {} for failed authentication)` : null;
  if (!isObject(user)) return fieldProblem(field, user, 'an object');
  if (user.username !== undefined && typeof user.username !== 'string') return fieldProblem(`${field}.username`, user.username, 'a string');
  if (user.uid !== undefined && typeof user.uid !== 'string') return fieldProblem(`${field}.uid`, user.uid, 'a string');
  if (user.groups !== undefined && !isStringArray(user.groups)) return fieldProblem(`${field}.groups`, user.groups, 'a list of strings');
  if (user.extra !== undefined) {
    if (!isObject(user.extra)) return fieldProblem(`${field}.extra`, user.extra, 'an object');
    for (const [k, v] of Object.entries(user.extra)) {
      if (!isStringArray(v)) return fieldProblem(`${field}.extra["${k}"]`, v, 'a list of strings');
    }
  }
  return null;
}

function missingIdentifying(value: Record<string, unknown>): string {
  return ['auditID', 'stage', 'verb'].filter((k) => value[k] === undefined).join(', ');
}

function fieldProblem(field: string, got: unknown, expected: string): string {
  return got === undefined ? `${field}: missing (expected ${expected})` : `${field}: expected ${expected}, got ${describe(got)}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** A short description of a value for error messages: its type, and the value when small. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${typeof v} ${text.slice(0, 57)}...` : text;
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
