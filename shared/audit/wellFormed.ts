/**
 * Decoded JSON as the rest of kubetrail can take it, checked in one pass without recursion:
 * - its arrays and objects nest at most `maxDepth` levels (jsonDepth.ts says why);
 * - every string, keys too, is well formed: JSON may escape a lone UTF-16 surrogate
 *   (`"\ud800"`); written to SQLite it becomes U+FFFD, so what was hashed at ingest and what is
 *   read back would differ and `verify` would fail on an untouched store. Each lone surrogate is
 *   replaced by U+FFFD here, in place, before anything else sees it.
 * Returns false, with nothing repaired past the point it stopped, when the value nests too deep.
 */
export function makeWellFormed(value: unknown, maxDepth = Infinity): boolean {
  const nodes: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) nodes.push(value), depths.push(1);
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return false;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'string') {
          if (!v.isWellFormed()) node[i] = v.toWellFormed();
        } else if (typeof v === 'object' && v !== null) nodes.push(v), depths.push(depth + 1);
      }
      continue;
    }
    const obj = node as Record<string, unknown>;
    for (const key in obj) {
      let v = obj[key];
      if (typeof v === 'string') {
        if (!v.isWellFormed()) v = obj[key] = v.toWellFormed();
      } else if (typeof v === 'object' && v !== null) nodes.push(v), depths.push(depth + 1);
      if (!key.isWellFormed()) {
        // Re-keyed in place; key order changes, which JSON objects do not promise anyway.
        delete obj[key];
        Object.defineProperty(obj, key.toWellFormed(), { value: v, enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return true;
}
