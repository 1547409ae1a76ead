/**
 * Strings as SQLite and the hash chain can keep them. JSON may escape a lone UTF-16 surrogate
 * (`"\ud800"`); written to SQLite it becomes U+FFFD, so what was hashed at ingest and what is
 * read back would differ and `verify` would fail on an untouched store. Every string of an
 * event, keys too, is made well formed (each lone surrogate replaced by U+FFFD) before anything
 * else sees it. Returns the value, changed in place where needed, and whether anything was.
 */
export function makeWellFormed(value: unknown): { value: unknown; repaired: boolean } {
  if (typeof value === 'string') return value.isWellFormed() ? { value, repaired: false } : { value: value.toWellFormed(), repaired: true };
  let repaired = false;
  const stack: object[] = typeof value === 'object' && value !== null ? [value] : [];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'string') {
          if (!v.isWellFormed()) (node[i] = v.toWellFormed()), (repaired = true);
        } else if (typeof v === 'object' && v !== null) stack.push(v);
      }
      continue;
    }
    const obj = node as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      let v = obj[key];
      if (typeof v === 'string' && !v.isWellFormed()) (v = obj[key] = v.toWellFormed()), (repaired = true);
      else if (typeof v === 'object' && v !== null) stack.push(v);
      if (!key.isWellFormed()) {
        // Re-keyed in place; key order changes, which JSON objects do not promise anyway.
        delete obj[key];
        Object.defineProperty(obj, key.toWellFormed(), { value: v, enumerable: true, writable: true, configurable: true });
        repaired = true;
      }
    }
  }
  return { value, repaired };
}
