import { parseCidr } from '../../cidr.js';
import { remembered } from '../remembered.js';
import { LargeBody } from '../../audit/largeBody.js';
import type { AuditEvent } from '../../audit/types.js';
import { isObj } from '../json.js';
import { ConditionError, parseCondition, type Condition } from './sigmaCondition.js';

/**
 * Sigma detections compiled to tests of an audit Event. Field names are the Event's, dotted
 * (`objectRef.resource`, `user.username`, `responseStatus.code`, `requestObject.spec.hostNetwork`);
 * a list-valued field (`user.groups`, `sourceIPs`) matches when any element does. Strings
 * match case-insensitively with `*` and `?` wildcards (`\*` for a star), as Sigma specifies.
 * Every part that is not supported is named in `problems`, never ignored. Pure.
 */

/**
 * One event's field values, read once for all the rules that look at them: keyed by field, and
 * by field + NUL for the values as lower-case text.
 */
export type FieldCache = Map<string, unknown[]>;

type Test = (event: AuditEvent, cache: FieldCache) => boolean;

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
  /**
   * A field and the values (lower case) one of which it must hold for the rule to match, when
   * the condition implies one (`objectRef.resource`, else `verb`): lets the engine skip the rule.
   */
  required: { field: string; values: Set<string> } | null;
}

/** The fields the engine indexes rules by, best first. */
export const INDEXED_FIELDS = ['objectRef.resource', 'verb'] as const;

/** Whether the audit Event has this field; else why not, with the likely intended one. */
export function fieldProblem(field: string): string | null {
  if (FIELDS.has(field) || ONE_KEY.some((p) => field.startsWith(p) && field.length > p.length) || BODY.some((p) => field.startsWith(p) && field.length > p.length)) return null;
  const near = `objectRef.${field}`;
  const hint = FIELDS.has(near) ? ` (did you mean ${near}?)` : field === 'hostPath' || field === 'capabilities' ? ' (it is inside the pod spec: requestObject.spec.…)' : '';
  return `field '${field}' is not in the audit Event${hint}`;
}

/** A field's values in the event, through the event's cache. */
export function cachedGetter(field: string): (event: AuditEvent, cache: FieldCache) => unknown[] {
  const read = getterOf(field);
  return (event, cache) => {
    let v = cache.get(field);
    if (v === undefined) cache.set(field, (v = read(event)));
    return v;
  };
}

/** The values as lower-case text (null for what is not text), through the event's cache. */
function lowerGetter(field: string): (event: AuditEvent, cache: FieldCache) => (string | null)[] {
  const values = cachedGetter(field);
  const key = `${field}\0`;
  return (event, cache) => {
    let v = cache.get(key) as (string | null)[] | undefined;
    if (v === undefined) cache.set(key, (v = values(event, cache).map((x) => text(x)?.toLowerCase() ?? null)));
    return v;
  };
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
  // Every value at the path, through the lists on the way (`spec.containers.image`).
  const all = (event: AuditEvent): unknown[] => {
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
  // Most paths cross no list: walk them without building any.
  return (event) => {
    let v: unknown = event;
    for (const part of parts) {
      if (Array.isArray(v) || v instanceof LargeBody) return all(event);
      if (!isObj(v) || !Object.hasOwn(v, part)) return [];
      v = v[part];
    }
    return flat(v);
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

/**
 * A wildcard pattern as the cheapest test of (lower-case unless `cased`) text: equality, prefix,
 * suffix or substring when its only wildcards are at its ends, else a regular expression.
 */
function patternTest(pattern: string, cased: boolean): (x: string) => boolean {
  const inner = pattern.replace(/^\*/, '').replace(/\*$/, '');
  if (/[*?\\]/.test(inner)) {
    const re = wildcardRegExp(pattern, cased);
    return (x) => re.test(x);
  }
  const v = cased ? inner : inner.toLowerCase();
  const lead = pattern.startsWith('*');
  const trail = pattern.length > 1 && pattern.endsWith('*');
  if (pattern === '*') return () => true;
  if (lead && trail) return (x) => x.includes(v);
  if (lead) return (x) => x.endsWith(v);
  if (trail) return (x) => x.startsWith(v);
  return (x) => x === v;
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

  const valuesAt = cachedGetter(field);
  if (mods.includes('exists')) {
    const want = values[0] === true || values[0] === 'true';
    return (e, cache) => (valuesAt(e, cache).length > 0) === want;
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
        const contains = remembered((ip) => block.contains(ip));
        return (x: unknown) => typeof x === 'string' && contains(x);
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
      const test = patternTest(pattern, cased);
      // Lower-case text when not cased (lowerGetter), else the raw value as text.
      return cased ? (x: unknown) => text(x) !== null && test(text(x)!) : (x: unknown) => x !== null && test(x as string);
    });
    // Case-insensitive text tests read the lower-cased values once per event.
    if (!cased) return matchValues(lowerGetter(field), valuesAt, tests, values, all);
  }
  return matchValues(valuesAt, valuesAt, tests, values, all);
}

/** The field's values against the value tests: any value for each test; every test with `all`, else any; null matches an absent field. */
function matchValues(
  valuesAt: (e: AuditEvent, cache: FieldCache) => unknown[],
  raw: (e: AuditEvent, cache: FieldCache) => unknown[],
  tests: ((v: unknown) => boolean)[],
  values: unknown[],
  all: boolean,
): Test {
  const wantsNull = values.map((v) => v === null);
  return (e, cache) => {
    const found = valuesAt(e, cache);
    for (let i = 0; i < tests.length; i++) {
      const ok = wantsNull[i] ? raw(e, cache).every((x) => x === null) : found.some(tests[i]!);
      if (ok !== all) return ok; // any: the first match decides; all: the first miss does
    }
    return all;
  };
}

/** A search identifier's value: a mapping (all fields match), or a list of mappings (any). */
function compileSearch(name: string, value: unknown, problems: string[]): Test {
  if (isObj(value)) {
    const tests = Object.entries(value).map(([k, v]) => compileField(k, v, problems));
    return (e, cache) => tests.every((t) => t(e, cache));
  }
  if (Array.isArray(value) && value.length > 0 && value.every(isObj)) {
    const alternatives = value.map((m) => compileSearch(name, m, problems));
    return (e, cache) => alternatives.some((t) => t(e, cache));
  }
  problems.push(`search '${name}' is a list of keywords: full-text search is not supported; name the fields`);
  return () => false;
}

/** Compiles a rule's `detection` block; the problems say what will not work as written. */
export function compileDetection(detection: unknown): CompiledDetection {
  const problems: string[] = [];
  if (!isObj(detection)) return { test: () => false, problems: ['detection is missing or not a mapping'], required: null };
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
  if (parsed.length === 0) return { test: () => false, problems, required: null };
  // A list of conditions: any of them.
  const compiled = parsed.map((c) => conditionTest(c, tests));
  return {
    problems,
    required: requiredOf(parsed, searches),
    test: compiled.length === 1 ? compiled[0]! : (e, cache) => compiled.some((t) => t(e, cache)),
  };
}

/** A condition as one test of the event (the field values it reads are cached, so a search named twice costs little). */
function conditionTest(c: Condition, tests: Map<string, Test>): Test {
  switch (c.kind) {
    case 'id':
      return tests.get(c.name)!;
    case 'not': {
      const of = conditionTest(c.of, tests);
      return (e, cache) => !of(e, cache);
    }
    case 'and':
    case 'or': {
      const of = c.of.map((x) => conditionTest(x, tests));
      return c.kind === 'and' ? (e, cache) => of.every((t) => t(e, cache)) : (e, cache) => of.some((t) => t(e, cache));
    }
    case 'quantified': {
      const of = c.names.map((n) => tests.get(n)!);
      return c.all ? (e, cache) => of.every((t) => t(e, cache)) : (e, cache) => of.some((t) => t(e, cache));
    }
  }
}

type Required = Map<string, Set<string>>;

/** What a search identifier requires: the fields of a mapping given plain values (no modifier, no wildcard). */
function searchRequires(value: unknown): Required {
  const out: Required = new Map();
  if (!isObj(value)) return out;
  for (const [key, raw] of Object.entries(value)) {
    if (key.includes('|') || !(INDEXED_FIELDS as readonly string[]).includes(key)) continue;
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0 || !list.every((v) => typeof v === 'string' && !/[*?\\]/.test(v))) continue;
    out.set(key, new Set(list.map((v) => (v as string).toLowerCase())));
  }
  return out;
}

/** Conjunctions: each part's requirements hold; a field two parts require must hold a value both allow. */
function both(a: Required, b: Required): Required {
  const out = new Map(a);
  for (const [f, vs] of b) out.set(f, out.has(f) ? new Set([...out.get(f)!].filter((v) => vs.has(v))) : vs);
  return out;
}

function conditionRequires(c: Condition, searches: Record<string, unknown>): Required {
  switch (c.kind) {
    case 'id':
      return searchRequires(searches[c.name]);
    case 'and':
      return c.of.map((x) => conditionRequires(x, searches)).reduce(both, new Map());
    case 'quantified':
      return c.all ? c.names.map((n) => searchRequires(searches[n])).reduce(both, new Map()) : new Map();
    default:
      // or, not, 1 of: no value is required of any one field.
      return new Map();
  }
}

/** The index entry of a rule: the best indexed field its every condition requires. */
function requiredOf(conditions: Condition[], searches: Record<string, unknown>): CompiledDetection['required'] {
  const each = conditions.map((c) => conditionRequires(c, searches));
  for (const field of INDEXED_FIELDS) {
    // Several conditions (any of them): each must require the field; the values add up.
    if (each.every((r) => r.has(field))) return { field, values: new Set(each.flatMap((r) => [...r.get(field)!])) };
  }
  return null;
}
