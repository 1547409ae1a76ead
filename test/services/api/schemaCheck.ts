/**
 * Checks a value against the subset of JSON Schema the OpenAPI document uses (type, enum,
 * properties, required, additionalProperties, items, $ref). Returns the problems, each with
 * the path of the value, so that a failing test says where the API and its document differ.
 */
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function checkSchema(value: unknown, schema: Schema, doc: Schema, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = ((doc.components as Schema).schemas as Record<string, Schema>)[name];
    if (!target) return [`${path}: schema ${schema.$ref} is not in the document`];
    return checkSchema(value, target, doc, path);
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${path}: expected ${types.join(' or ')}, got ${t}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) problems.push(`${path}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) problems.push(...checkSchema(v, props[k]!, doc, `${path}.${k}`));
      else if (schema.additionalProperties === false) problems.push(`${path}: ${k} is not in the schema`);
      else if (typeof schema.additionalProperties === 'object') problems.push(...checkSchema(v, schema.additionalProperties as Schema, doc, `${path}.${k}`));
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => problems.push(...checkSchema(v, schema.items as Schema, doc, `${path}[${i}]`)));
  return problems;
}

/** The schema of an answer, from the document: path template, method, status and media type. */
export function responseSchema(doc: Schema, template: string, method: string, status: number, media = 'application/json'): Schema | null {
  const op = ((doc.paths as Record<string, Record<string, Schema>>)[template] ?? {})[method];
  const response = (op?.responses as Record<string, Schema> | undefined)?.[String(status)];
  const content = response?.content as Record<string, { schema: Schema }> | undefined;
  return content?.[media]?.schema ?? null;
}

/** A minimal RFC 4180 reader: rows of fields, quotes and CRLF handled. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      (row = []), (field = ''), i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows;
}
