import { createHash } from 'node:crypto';

/**
 * The key a principal is found by: 48 bits of the SHA-256 of its JSON, a safe integer. Bound
 * tokens make one principal per token, and a UNIQUE index over the whole JSON doubled what each
 * one cost; this index costs a few bytes. Keys may collide: a lookup compares the JSON too.
 */
export function principalKey(json: string): number {
  return createHash('sha256').update(json).digest().readUIntBE(0, 6);
}
