import { readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * Checks of kubetrail's SIEM output against the schemas themselves (../shared/spec): OCSF from
 * its class, object, profile and dictionary files; ECS from ecs_flat.yml. Each returns the list
 * of violations, empty when the document is valid.
 */

type Json = Record<string, unknown>;
interface AttrDef {
  requirement?: string;
  type?: string;
  is_array?: boolean;
  enum?: Record<string, unknown>;
}
interface Shape {
  attributes: Record<string, AttrDef>;
  constraints: { at_least_one?: string[]; just_one?: string[] };
  /** Event classes: the class's own uid and its category (inherited from its parents). */
  uid?: number;
  category?: string;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Json;

export class OcsfSchema {
  private readonly dictionary: Json;
  private readonly types: Record<string, Json>;
  private readonly eventFiles = new Map<string, string>();
  private readonly shapes = new Map<string, Shape>();

  constructor(private readonly dir: string) {
    this.dictionary = readJson(join(dir, 'dictionary.json'));
    this.types = ((this.dictionary.types as Json).attributes ?? {}) as Record<string, Json>;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.json')) this.eventFiles.set(String(readJson(join(d, e.name)).name), join(d, e.name));
      }
    };
    walk(join(dir, 'events'));
  }

  /** A class or object with its parents' attributes, its profiles' and the dictionary's definitions merged in. */
  private shape(kind: 'event' | 'object', name: string): Shape {
    const key = `${kind}:${name}`;
    const cached = this.shapes.get(key);
    if (cached) return cached;
    const file = kind === 'event' ? this.eventFiles.get(name) : join(this.dir, 'objects', `${name}.json`);
    if (!file) throw new Error(`OCSF has no ${kind} ${name}`);
    const def = readJson(file);
    const parent = typeof def.extends === 'string' && def.extends !== 'object' ? this.shape(kind, def.extends) : { attributes: {}, constraints: {} };
    const attributes: Record<string, AttrDef> = { ...parent.attributes };
    const own = (def.attributes ?? {}) as Record<string, unknown>;
    const includes = Array.isArray(own.$include) ? (own.$include as string[]) : [];
    for (const inc of includes) {
      const profile = readJson(join(this.dir, inc));
      for (const [a, d] of Object.entries((profile.attributes ?? {}) as Record<string, AttrDef>)) attributes[a] = this.merge(a, attributes[a], { ...d, requirement: 'optional' });
    }
    for (const [a, d] of Object.entries(own)) if (a !== '$include') attributes[a] = this.merge(a, attributes[a], d as AttrDef);
    const shape: Shape = {
      attributes,
      constraints: (def.constraints as Shape['constraints']) ?? parent.constraints,
      uid: typeof def.uid === 'number' ? def.uid : parent.uid,
      category: typeof def.category === 'string' ? def.category : parent.category,
    };
    this.shapes.set(key, shape);
    return shape;
  }

  private merge(name: string, inherited: AttrDef | undefined, own: AttrDef): AttrDef {
    const dict = ((this.dictionary.attributes as Json)[name] ?? {}) as AttrDef;
    const base = inherited ?? dict;
    // Enums add to the inherited ones (Unknown and Other of the base event stay).
    const e = own.enum || base.enum ? { ...(base.enum ?? dict.enum ?? {}), ...(own.enum ?? {}) } : undefined;
    return { ...dict, ...base, ...own, ...(e ? { enum: e } : {}), requirement: own.requirement ?? base.requirement };
  }

  /** Violations of `doc` as an event of class `className` (e.g. api_activity). */
  validateEvent(doc: unknown, className: string): string[] {
    const errors: string[] = [];
    const shape = this.shape('event', className);
    // The uids the schema computes for the class (its enums list only the base event's 0).
    const category = ((readJson(join(this.dir, 'categories.json')).attributes as Json)[shape.category!] as Json).uid as number;
    const classUid = category * 1000 + shape.uid!;
    const attributes = { ...shape.attributes, class_uid: { ...shape.attributes.class_uid, enum: { [classUid]: {} } }, category_uid: { ...shape.attributes.category_uid, enum: { [category]: {} } } };
    this.check(doc, { ...shape, attributes }, className, errors);
    if (isObj(doc) && doc.type_uid !== classUid * 100 + Number(doc.activity_id)) errors.push(`${className}.type_uid: expected class_uid * 100 + activity_id = ${classUid * 100 + Number(doc.activity_id)}, got ${String(doc.type_uid)}`);
    return errors;
  }

  private check(value: unknown, shape: Shape, path: string, errors: string[]): void {
    if (!isObj(value)) {
      errors.push(`${path}: expected an object`);
      return;
    }
    for (const [a, d] of Object.entries(shape.attributes)) if (d.requirement === 'required' && !(a in value)) errors.push(`${path}.${a}: required, missing`);
    for (const [a, v] of Object.entries(value)) {
      const d = shape.attributes[a];
      if (!d) {
        errors.push(`${path}.${a}: not an attribute here`);
        continue;
      }
      if (d.is_array) {
        if (!Array.isArray(v)) errors.push(`${path}.${a}: expected an array`);
        else v.forEach((x, i) => this.checkValue(x, d, `${path}.${a}[${i}]`, errors));
      } else this.checkValue(v, d, `${path}.${a}`, errors);
    }
    const c = shape.constraints;
    if (c.at_least_one && !c.at_least_one.some((a) => a in value)) errors.push(`${path}: needs at least one of ${c.at_least_one.join(', ')}`);
    if (c.just_one && c.just_one.filter((a) => a in value).length !== 1) errors.push(`${path}: needs exactly one of ${c.just_one.join(', ')}`);
  }

  private checkValue(v: unknown, d: AttrDef, path: string, errors: string[]): void {
    const type = d.type ?? 'string_t';
    if (d.enum && !(String(v) in d.enum)) errors.push(`${path}: ${JSON.stringify(v)} is not one of ${Object.keys(d.enum).join(', ')}`);
    if (!type.endsWith('_t')) {
      if (type === 'object') {
        if (!isObj(v)) errors.push(`${path}: expected an object`);
        return;
      }
      this.check(v, this.shape('object', type), path, errors);
      return;
    }
    const base = this.baseType(type);
    const ok =
      base === 'string_t' ? typeof v === 'string' :
      base === 'integer_t' || base === 'long_t' ? Number.isInteger(v) :
      base === 'float_t' ? typeof v === 'number' :
      base === 'boolean_t' ? typeof v === 'boolean' :
      base === 'json_t' ? true : false;
    if (!ok) errors.push(`${path}: ${JSON.stringify(v)} is not a ${type}`);
    if (type === 'ip_t' && typeof v === 'string' && isIP(v) === 0) errors.push(`${path}: '${v}' is not an IP address`);
  }

  private baseType(type: string): string {
    const t = this.types[type];
    return t && typeof t.type === 'string' && t.type !== type ? this.baseType(t.type) : type;
  }
}

interface EcsField {
  type: string;
  normalize?: string[];
  allowed_values?: { name: string; expected_event_types?: string[] }[];
}

export class EcsSchema {
  private readonly fields: Record<string, EcsField>;

  constructor(file: string) {
    this.fields = parse(readFileSync(file, 'utf8')) as Record<string, EcsField>;
  }

  /** Violations of `doc`: ECS fields that do not exist or have the wrong type or value; `kubernetes.audit.*` and `kubetrail.*` are not ECS's. */
  validate(doc: unknown): string[] {
    const errors: string[] = [];
    const flat = new Map<string, unknown>();
    const walk = (v: unknown, path: string) => {
      if (isObj(v) && !(path in this.fields && ['object', 'flattened', 'nested'].includes(this.fields[path]!.type))) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
      else flat.set(path, v);
    };
    walk(doc, '');
    for (const [path, v] of flat) {
      if (path.startsWith('kubernetes.audit.') || path.startsWith('kubetrail.')) continue;
      const f = this.fields[path];
      if (!f) {
        errors.push(`${path}: not an ECS field`);
        continue;
      }
      const values = Array.isArray(v) ? v : [v];
      if (Array.isArray(v) && !f.normalize?.includes('array') && !['keyword', 'ip'].includes(f.type)) errors.push(`${path}: an array, but ECS declares one value`);
      for (const x of values) {
        const ok =
          ['keyword', 'constant_keyword', 'wildcard', 'match_only_text', 'text'].includes(f.type) ? typeof x === 'string' :
          f.type === 'ip' ? typeof x === 'string' && isIP(x) !== 0 :
          f.type === 'date' ? typeof x === 'string' && !Number.isNaN(Date.parse(x)) :
          f.type === 'long' || f.type === 'integer' ? Number.isInteger(x) :
          f.type === 'float' || f.type === 'scaled_float' ? typeof x === 'number' :
          f.type === 'boolean' ? typeof x === 'boolean' : true;
        if (!ok) errors.push(`${path}: ${JSON.stringify(x)} is not a ${f.type}`);
        if (f.allowed_values && !f.allowed_values.some((a) => a.name === x)) errors.push(`${path}: '${String(x)}' is not an allowed value`);
      }
    }
    // Each event.type must be one its categories expect.
    const categories = (flat.get('event.category') as string[] | undefined) ?? [];
    const expected = new Set(categories.flatMap((c) => this.fields['event.category']!.allowed_values!.find((a) => a.name === c)?.expected_event_types ?? []));
    for (const t of (flat.get('event.type') as string[] | undefined) ?? []) if (categories.length > 0 && !expected.has(t)) errors.push(`event.type: '${t}' is not expected with event.category ${categories.join(', ')}`);
    return errors;
  }
}
