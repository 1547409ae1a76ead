import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';

/**
 * Opaque page cursors: where the last page ended, in the order it was read, and a fingerprint
 * of the query, so that a cursor given to another query is refused instead of misread.
 */
export interface CursorPayload<P> {
  order: 'asc' | 'desc';
  query: string;
  position: P;
}

/** A short fingerprint of a query's parameters (names sorted, paging ones left out). */
export function queryFingerprint(params: Record<string, string | undefined>, paging: readonly string[] = ['cursor', 'limit', 'format']): string {
  const kept = Object.entries(params)
    .filter(([k, v]) => v !== undefined && !paging.includes(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(kept)).digest('base64url').slice(0, 12);
}

export function encodeCursor<P>(c: CursorPayload<P>): string {
  return Buffer.from(JSON.stringify([c.order, c.query, c.position])).toString('base64url');
}

/** The position a cursor holds; InputError when it is not one of ours or belongs to another query. */
export function decodeCursor<P>(text: string, order: 'asc' | 'desc', query: string, isPosition: (p: unknown) => p is P): P {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !isPosition(parsed[2])) {
    throw new InputError('cursor: not a cursor this API gave out; pass nextCursor from the previous page unchanged');
  }
  if (parsed[0] !== order) throw new InputError(`cursor: it pages in ${String(parsed[0])} order; ask with order=${String(parsed[0])} or start without a cursor`);
  if (parsed[1] !== query) throw new InputError('cursor: it belongs to a query with other filters; repeat that query, or start without a cursor');
  return parsed[2];
}
