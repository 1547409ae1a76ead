/**
 * One string key for a value made of several string parts (an API resource, an object, a
 * request's attributes), from which the parts come back exactly: the key a dimension caches
 * and the writer thread receives, and the parameters of its insert.
 *
 * The parts are joined with NUL, which no Kubernetes name holds — but a request path can
 * carry one (`%00`) into an audit event's objectRef, so parts that hold NUL, or a first part
 * that starts with the JSON marker, are written as the marker and a JSON array instead.
 */

const SEP = '\u0000';
const JSON_MARK = '\u0001';

export function joinParts(parts: readonly string[]): string {
  if (parts[0]!.startsWith(JSON_MARK) || parts.some((p) => p.includes(SEP))) return JSON_MARK + JSON.stringify(parts);
  return parts.join(SEP);
}

export function splitParts(key: string): string[] {
  return key.startsWith(JSON_MARK) ? (JSON.parse(key.slice(1)) as string[]) : key.split(SEP);
}
