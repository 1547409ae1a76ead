import { parseCidr } from '../../cidr.js';
import { LargeBody } from '../../audit/largeBody.js';
import type { AuditEvent } from '../../audit/types.js';
import { isObj } from '../json.js';
import { ConditionError, evaluate, parseCondition, type Condition } from './sigmaCondition.js';

/**
 * Sigma detections compiled to tests of an audit Event. Field names are the Event's, dotted
 * (`objectRef.resource`, `user.username`, `responseStatus.code`, `requestObject.spec.hostNetwork`);
 * a list-valued field (`user.groups`, `sourceIPs`) matches when any element does. Strings
 * match case-insensitively with `*` and `?` wildcards (`\*` for a star), as Sigma specifies.
 * Every part that is not supported is named in `problems`, never ignored. Pure.
 */

type Test = (event: AuditEvent) => boolean;

/** Modifiers this engine understands. */
const MODIFIERS = new Set(['contains', 'startswith', 'endswith', 're', 'all', 'cidr', 'exists', 'cased', 'lt', 'lte', 'gt', 'gte', 'i', 'm', 's']);
const COMPARISONS = new Set(['lt', 'lte', 'gt', 'gte']);

/** The Event's fields (audit.k8s.io/v1); under the OPEN prefixes any name is allowed. */
const FIELDS = new Set([
  'level', 'auditID', 'stage', 'requestURI', 'verb', 'userAgent', 'sourceIPs', 'requestReceivedTimestamp', 'stageTimestamp',
  'user', 'user.username', 'user.uid', 'user.groups', 'user.extra',
  'impersonatedUser', 'impersonatedUser.username', 'impersonatedUser.uid', 'impersonatedUser.groups', 'impersonatedUser.extra',
  'objectRef', 'objectRef.resource', 'objectRef.namespace', 'objectRef.name', 'objectRef.uid', 'objectRef.apiGroup', 'objectRef.apiVersion', 'objectRef.resourceVersion', 'objectRef.subresource',
  'responseStatus', 'responseStatus.code', 'responseStatus.status', 'responseStatus.reason', 'responseStatus.message',
  'requestObject', 'responseObject', 'annotations',
]);
/** Fields whose rest is one key (annotation names hold dots), and fields whose rest is a path into a body. */
const ONE_KEY = ['annotations.', 'user.extra.', 'impersonatedUser.extra.'];
const BODY = ['requestObject.', 'responseObject.', 'responseStatus.details.', 'responseStatus.metadata.'];
const NUMERIC = new Set(['responseStatus.code']);

export interface CompiledDetection {
  test: Test;
  problems: string[];
}

/** Whether the audit Event has this field; else why not, with the likely intended one. */
export function fieldProblem(field: string): string | null {
  if (FIELDS.has(field) || ONE_KEY.some((p) => field.startsWith(p) && field.length > p.length) || BODY.some((p) => field.startsWith(p) && field.length > p.length)) return null;
  const near = `objectRef.${field}`;
  const hint = FIELDS.has(near) ? ` (did you mean ${near}?)` : field === 'hostPath' || field === 'capabilities' ? ' (it is inside the pod spec: requestObject.spec.…)' : '';
  return `field '${field}' is not in the audit Event${hint}`;
}

/** Reads a field's values from an event: [] when it is absent. */
function getterOf(field: string): (event: AuditEvent) => unknown[] {
  const one = ONE_KEY.find((p) => field.startsWith(p));
  if (one) {
    const key = field.slice(one.length);
    const holder = one.split('.')[0]!;
    return (event) => {
      const root = (event as unknown as Record<string, unknown>)[holder];
      const map = holder === 'annotations' ? root : isObj(root) ? root.extra : undefined;
      return isObj(map) && Object.hasOwn(map, key) ? flat(map[key]) : [];
    };
  }
  const parts = field.split('.');
  return (event) => {
    let current: unknown[] = [event];
    for (const part of parts) {
      const next: unknown[] = [];
      for (const c of current) {
        if (c instanceof LargeBody) continue; // a body too large to parse whole has no fields here
        for (const item of Array.isArray(c) ? c : [c]) if (isObj(item) && Object.hasOwn(item, part)) next.push(item[part]);
      }
      current = next;
    }
    return current.flatMap(flat);
  };
}

function flat(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function wildcardRegExp(pattern: string, cased: boolean): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '?' || pattern[i + 1] === '\\')) {
      out += `\\${pattern[++i]}`;
    } else if (ch === '*') out += '[\\s\\S]*';
    else if (ch === '?') out += '[\\s\\S]';
    else out += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, cased ? '' : 'i');
}

const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null);

/** One `field|modifiers: value(s)` entry as a test. */
function compileField(key: string, raw: unknown, problems: string[]): Test {
  const [field = '', ...mods] = key.split('|');
  for (const m of mods) if (!MODIFIERS.has(m)) problems.push(`modifier '${m}' (in '${key}') is not supported`);
  const p = fieldProblem(field);
  if (p) problems.push(p);
  const values = Array.isArray(raw) ? raw : [raw];
  const all = mods.includes('all');
  const cased = mods.includes('cased');
  if (values.some((v) => v !== null && typeof v === 'object')) problems.push(`'${key}' has a value that is a list or mapping`);

  const valuesAt = getterOf(field);
  if (mods.includes('exists')) {
    const want = values[0] === true || values[0] === 'true';
    return (e) => (valuesAt(e).length > 0) === want;
  }
  let tests: ((v: unknown) => boolean)[];
  if (mods.includes('re')) {
    const flags = `${mods.includes('i') ? 'i' : ''}${mods.includes('m') ? 'm' : ''}${mods.includes('s') ? 's' : ''}`;
    tests = values.map((v) => {
      try {
        const re = new RegExp(String(v), flags);
        return (x: unknown) => text(x) !== null && re.test(text(x)!);
      } catch (err) {
        problems.push(`'${key}': not a regular expression: ${(err as Error).message}`);
        return () => false;
      }
    });
  } else if (mods.includes('cidr')) {
    tests = values.map((v) => {
      try {
        const block = parseCidr(String(v), key);
        return (x: unknown) => typeof x === 'string' && block.contains(x);
      } catch (err) {
        problems.push((err as Error).message);
        return () => false;
      }
    });
  } else if (mods.some((m) => COMPARISONS.has(m))) {
    const op = mods.find((m) => COMPARISONS.has(m))!;
    tests = values.map((v) => {
      const n = Number(v);
      if (!Number.isFinite(n)) problems.push(`'${key}': '${String(v)}' is not a number`);
      return (x: unknown) => {
        const y = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN;
        return op === 'lt' ? y < n : op === 'lte' ? y <= n : op === 'gt' ? y > n : y >= n;
      };
    });
  } else {
    tests = values.map((v) => {
      if (v === null) return () => false; // handled below: null matches an absent field
      const s = String(v);
      if (NUMERIC.has(field) && !/^[\d*?]+$/.test(s)) problems.push(`'${key}': '${s}' can never match: ${field} is a number`);
      const pattern = mods.includes('contains') ? `*${s}*` : mods.includes('startswith') ? `${s}*` : mods.includes('endswith') ? `*${s}` : s;
      const re = wildcardRegExp(pattern, cased);
      return (x: unknown) => text(x) !== null && re.test(text(x)!);
    });
  }
  const wantsNull = values.map((v) => v === null);
  return (e) => {
    const found = valuesAt(e);
    const one = (t: (v: unknown) => boolean, i: number) => (wantsNull[i] ? found.every((x) => x === null) : found.some(t));
    return all ? tests.every(one) : tests.some(one);
  };
}

/** A search identifier's value: a mapping (all fields match), or a list of mappings (any). */
function compileSearch(name: string, value: unknown, problems: string[]): Test {
  if (isObj(value)) {
    const tests = Object.entries(value).map(([k, v]) => compileField(k, v, problems));
    return (e) => tests.every((t) => t(e));
  }
  if (Array.isArray(value) && value.length > 0 && value.every(isObj)) {
    const alternatives = value.map((m) => compileSearch(name, m, problems));
    return (e) => alternatives.some((t) => t(e));
  }
  problems.push(`search '${name}' is a list of keywords: full-text search is not supported; name the fields`);
  return () => false;
}

/** Compiles a rule's `detection` block; the problems say what will not work as written. */
export function compileDetection(detection: unknown): CompiledDetection {
  const problems: string[] = [];
  if (!isObj(detection)) return { test: () => false, problems: ['detection is missing or not a mapping'] };
  const { condition, timeframe, ...searches } = detection;
  if (timeframe !== undefined) problems.push('timeframe (correlation over time) is not supported');
  const tests = new Map(Object.entries(searches).map(([name, v]) => [name, compileSearch(name, v, problems)]));
  const conditions = Array.isArray(condition) ? condition : [condition];
  const parsed: Condition[] = [];
  for (const c of conditions) {
    if (typeof c !== 'string') {
      problems.push('condition is missing or not text');
      continue;
    }
    try {
      parsed.push(parseCondition(c, [...tests.keys()]));
    } catch (err) {
      if (!(err instanceof ConditionError)) throw err;
      problems.push(`condition '${c}': ${err.message}`);
    }
  }
  if (parsed.length === 0) return { test: () => false, problems };
  return {
    problems,
    test: (e) => {
      const memo = new Map<string, boolean>();
      const value = (name: string) => {
        let v = memo.get(name);
        if (v === undefined) memo.set(name, (v = tests.get(name)!(e)));
        return v;
      };
      // A list of conditions: any of them.
      return parsed.some((c) => evaluate(c, value));
    },
  };
}
