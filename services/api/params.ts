import type { Request } from 'express';
import { InputError } from '../../shared/errors.js';
import { MAX_PARAM_CHARS } from '../../shared/query/actionFilter.js';
import { decodeCursor, encodeCursor, queryFingerprint } from '../../shared/query/cursor.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { SIEM_SCHEMAS, type SiemSchema } from '../../shared/siem/siemFields.js';

/** Query parameters every list takes, besides its own. */
export const PAGING_PARAMS = ['limit', 'cursor', 'order', 'format'] as const;

/**
 * The query parameters of a request, each a single string; a parameter the endpoint does not
 * take, or one given twice, is a 400 naming it (a typo must not widen a query silently).
 */
export function readParams(req: Request, allowed: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (!allowed.includes(k)) throw new InputError(`unknown query parameter '${k}'${allowed.length ? ` (this endpoint takes ${allowed.join(', ')})` : ''}`);
    if (typeof v !== 'string') throw new InputError(`${k}: give it once, as a plain value`);
    if (v.length > MAX_PARAM_CHARS * 4) throw new InputError(`${k}: longer than ${MAX_PARAM_CHARS * 4} characters`);
    out[k] = v;
  }
  return out;
}

export interface Paging {
  limit: number;
  order: 'asc' | 'desc';
  cursor: string | undefined;
  /** json pages; csv and ndjson stream every row (up to `limit` when given); ocsf and ecs stream actions and alerts as a SIEM's documents. */
  format: 'json' | 'csv' | 'ndjson' | SiemSchema;
}

const FORMATS: readonly Paging['format'][] = ['json', 'csv', 'ndjson', ...SIEM_SCHEMAS];

const ACCEPT_FORMATS: [RegExp, Paging['format']][] = [
  [/\btext\/csv\b/, 'csv'],
  [/\bapplication\/(x-)?ndjson\b/, 'ndjson'],
];

/** limit (default 100, at most `maxPageSize` for a JSON page), order, cursor and format (or the Accept header). */
export function readPaging(req: Request, params: Record<string, string | undefined>, maxPageSize: number): Paging {
  let format: Paging['format'] = 'json';
  if (params.format !== undefined) {
    if (!FORMATS.includes(params.format as Paging['format'])) throw new InputError(`format: expected ${FORMATS.join(', ')}, got '${params.format}'`);
    format = params.format as Paging['format'];
  } else {
    const accept = req.get('accept') ?? '';
    format = ACCEPT_FORMATS.find(([re]) => re.test(accept))?.[1] ?? 'json';
  }
  const order = params.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new InputError(`order: expected asc or desc, got '${order}'`);
  let limit = format === 'json' ? 100 : 0;
  if (params.limit !== undefined) {
    if (!/^\d{1,9}$/.test(params.limit)) throw new InputError(`limit: expected a whole number from 1 to ${maxPageSize}, got '${params.limit}'`);
    limit = Number(params.limit);
    if (limit < 1 || (format === 'json' && limit > maxPageSize)) {
      throw new InputError(`limit: expected 1 to ${maxPageSize}${format === 'json' ? ' for a page (format=csv, ndjson, ocsf or ecs streams any number)' : ''}, got ${limit}`);
    }
  }
  return { limit, order, cursor: params.cursor, format };
}

/** A positive whole-number path or body id; InputError naming it. */
export function readId(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d{1,15}$/.test(text) || Number(text) < 1) throw new InputError(`${what}: expected a positive whole number, got '${text ?? ''}'`);
  return Number(text);
}

/** A list request: its paging, where the previous page ended, and how to say where this one ends. */
export interface ListRequest<P> extends Paging {
  /** The cursor's position, or null for the first page. */
  after: P | null;
  /** Rows to ask the query for: one past a JSON page (is there a next one?), else `limit` (0: all). */
  fetch: number;
  /** The cursor of a page that ends at `position`. */
  cursorAt(position: P): string;
}

/** The list request of `paging`, its cursor tied to this path and these filters. */
export function readList<P>(req: Request, params: Record<string, string | undefined>, paging: Paging, isPosition: (p: unknown) => p is P): ListRequest<P> {
  const query = `${req.path}?${queryFingerprint(params)}`;
  return {
    ...paging,
    after: paging.cursor === undefined ? null : decodeCursor(paging.cursor, paging.order, query, isPosition),
    fetch: paging.format === 'json' ? paging.limit + 1 : paging.limit,
    cursorAt: (position) => encodeCursor({ order: paging.order, query, position }),
  };
}

/** `since` and `until` (microseconds) when given; since must come before until. */
export function readRange(params: Record<string, string | undefined>, nowMs: number): { since?: number; until?: number } {
  const since = params.since === undefined ? undefined : parseTimeBound(params.since, 'since', nowMs);
  const until = params.until === undefined ? undefined : parseTimeBound(params.until, 'until', nowMs);
  if (since !== undefined && until !== undefined && since >= until) throw new InputError('since must be before until');
  return { since, until };
}

/** A JSON object body with only the fields given; 400 naming what is wrong. */
export function readBody(req: Request, allowed: readonly string[], expected: string): Record<string, unknown> {
  const body = req.body as unknown;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InputError(`body: expected a JSON object with ${expected}`);
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new InputError(`body: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  return b;
}

/** A text field of a JSON body: present, a non-empty string. */
export function bodyField(body: Record<string, unknown>, key: string, required = true): string | undefined {
  const v = body[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new InputError(`body.${key}: expected a non-empty string`);
  if (v.length > 1024) throw new InputError(`body.${key}: longer than 1024 characters`);
  return v;
}
