import type pg from 'pg';
import { InputError } from '../../errors.js';

/**
 * PostgreSQL's text cannot hold U+0000, which JSON and URLs can carry. What kubetrail keeps of
 * its own (the self-audit, where input came from) keeps it as U+FFFD; events holding one are
 * quarantined (pgBatchStore.ts), so nothing stored holds it.
 */
export const storableText = (v: string): string => v.replaceAll('\u0000', '\uFFFD');

const holdsNul = (v: unknown): boolean => (typeof v === 'string' ? v.includes('\u0000') : Array.isArray(v) && v.some(holdsNul));

function checked(params: unknown): void {
  if (Array.isArray(params) && params.some(holdsNul)) {
    throw new InputError('a value given holds the character U+0000 (NUL): the PostgreSQL store holds no text with it (events with one are quarantined), so nothing matches it; remove it');
  }
}

/**
 * The pool a question is asked through: a value holding U+0000 is refused with an InputError
 * (a 400 from the API) before it reaches the server, which would fail the statement.
 */
export function nulCheckedPool(pool: pg.Pool): pg.Pool {
  const guardClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, name, receiver) {
        if (name !== 'query') return Reflect.get(target, name, receiver) as unknown;
        return (text: unknown, params?: unknown) => {
          checked(params);
          return target.query(text as string, params as unknown[]);
        };
      },
    });
  return new Proxy(pool, {
    get(target, name, receiver) {
      if (name === 'query') {
        return (text: unknown, params?: unknown) => {
          checked(params);
          return target.query(text as string, params as unknown[]);
        };
      }
      if (name === 'connect') return async () => guardClient(await target.connect());
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
}
