/**
 * How deep decoded JSON nests, measured without recursion. Every later walk over an event
 * (redaction, canonical forms, hashing, structured clones to other threads) recurses once per
 * level, so an event nesting deeper than MAX_EVENT_DEPTH is refused at the gate instead: one
 * 7 KB event of 3,000 nested arrays would otherwise overflow the stack and take its whole batch
 * down with it. Kubernetes objects nest a few dozen levels at most (CRD schemas included).
 */
export const MAX_EVENT_DEPTH = 200;

/** Whether arrays and objects in `value` nest deeper than `limit` levels (a scalar is 0). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  // Two parallel stacks instead of a pair per node: this runs on every event received.
  const nodes: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) {
    nodes.push(value);
    depths.push(1);
  }
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(node)) {
      for (const child of node) if (typeof child === 'object' && child !== null) nodes.push(child) && depths.push(depth + 1);
    } else {
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) nodes.push(child) && depths.push(depth + 1);
      }
    }
  }
  return false;
}
