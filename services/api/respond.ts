import type { Response } from 'express';
import { csvCell } from '../../shared/csv.js';
import { InputError } from '../../shared/errors.js';
import type { SiemSchema } from '../../shared/siem/siemFields.js';
import type { Paging } from './params.js';

/**
 * One page of a list as JSON — `{"items": [...], "nextCursor": "…" | null}` — or every row as
 * CSV or NDJSON, streamed with backpressure. `rows` must yield one row past the page (limit + 1)
 * for a JSON page to know whether there is a next one.
 */
export async function sendRows<T extends object>(
  res: Response,
  rows: Iterable<T> | AsyncIterable<T>,
  paging: Paging,
  columns: readonly (keyof T)[],
  cursorOf: ((last: T) => string) | null,
  /** More fields of a JSON page (e.g. the archived days the range spans). */
  extra: Record<string, unknown> = {},
  /** The SIEM documents of a row, for format=ocsf|ecs (actions and alerts). */
  documents?: Record<SiemSchema, (row: T) => unknown>,
): Promise<number> {
  const format = paging.format;
  const document = format === 'ocsf' || format === 'ecs' ? documents?.[format] : undefined;
  if ((format === 'ocsf' || format === 'ecs') && !document) throw new InputError(`format=${format}: only actions and alerts have ${format.toUpperCase()} documents; use json, csv or ndjson here`);
  if (paging.format === 'json') {
    const items: T[] = [];
    let more = false;
    for await (const r of rows) {
      if (items.length === paging.limit) {
        more = true;
        break;
      }
      items.push(r);
    }
    res.json({ items, nextCursor: more && cursorOf ? cursorOf(items.at(-1)!) : null, ...extra });
    return items.length;
  }
  res.status(200);
  res.type(paging.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
  const write = (s: string) => (res.write(s) ? Promise.resolve() : new Promise<void>((r) => res.once('drain', () => r())));
  let n = 0;
  if (paging.format === 'csv') await write(columns.map((c) => csvCell(c)).join(',') + '\r\n');
  let chunk = '';
  for await (const r of rows) {
    if (res.destroyed) break;
    chunk += paging.format === 'csv' ? columns.map((c) => csvCell(r[c])).join(',') + '\r\n' : JSON.stringify(document ? document(r) : r) + '\n';
    if (++n % 200 === 0) {
      await write(chunk);
      chunk = '';
    }
  }
  if (chunk) await write(chunk);
  res.end();
  return n;
}
