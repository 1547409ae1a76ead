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
  // A plain loop: this runs several times per event ingested.
  let plain = !parts[0]!.startsWith(JSON_MARK);
  for (let i = 0; plain && i < parts.length; i++) plain = parts[i]!.indexOf(SEP) < 0;
  return plain ? parts.join(SEP) : JSON_MARK + JSON.stringify(parts);
}

export function splitParts(key: string): string[] {
  return key.startsWith(JSON_MARK) ? (JSON.parse(key.slice(1)) as string[]) : key.split(SEP);
}
