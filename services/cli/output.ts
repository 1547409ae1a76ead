import type { Writable } from 'node:stream';
import { csvCell } from '../../shared/csv.js';
import { InputError } from '../../shared/errors.js';
import { SIEM_SCHEMAS, type SiemSchema } from '../../shared/siem/siemFields.js';

export const OUTPUT_FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Actions and alerts also go out as a SIEM's documents, one JSON per line (shared/siem). */
export const ROW_OUTPUTS = [...OUTPUT_FORMATS, ...SIEM_SCHEMAS] as const;
export type RowOutput = (typeof ROW_OUTPUTS)[number];

/**
 * Writes rows in one of the output formats. ndjson and csv stream row by row; json writes one
 * array, also row by row; table needs every row to size its columns.
 */
export async function writeRows<T extends object>(
  out: Writable,
  rows: Iterable<T> | AsyncIterable<T>,
  columns: (keyof T)[],
  format: RowOutput,
  documents?: Record<SiemSchema, (row: T) => unknown>,
): Promise<number> {
  let n = 0;
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  if (format === 'ocsf' || format === 'ecs') {
    const document = documents?.[format];
    if (!document) throw new InputError(`--output ${format}: only actions and alerts have ${format.toUpperCase()} documents`);
    for await (const row of rows) {
      await write(JSON.stringify(document(row)) + '\n');
      n++;
    }
    return n;
  }
  if (format === 'table') {
    const cells: string[][] = [columns.map((c) => String(c).toUpperCase())];
    const widths = cells[0]!.map((c) => c.length);
    for await (const row of rows) {
      const line = columns.map((c) => tableCell(row[c]));
      line.forEach((c, i) => (widths[i] = Math.max(widths[i]!, c.length)));
      cells.push(line);
      n++;
    }
    for (const r of cells) await write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n');
    return n;
  }
  if (format === 'csv') await write(columns.map((c) => csvCell(c)).join(',') + '\n');
  if (format === 'json') await write('[');
  for await (const row of rows) {
    if (format === 'csv') await write(columns.map((c) => csvCell(row[c])).join(',') + '\n');
    else if (format === 'ndjson') await write(JSON.stringify(row) + '\n');
    else await write((n === 0 ? '\n' : ',\n') + JSON.stringify(row));
    n++;
  }
  if (format === 'json') await write(n === 0 ? ']\n' : '\n]\n');
  return n;
}

const CELL_WIDTH = 80;

/**
 * A value as a table shows it, in at most CELL_WIDTH characters: a list as its first items and
 * how many there are in all, an object (counts by rule) as `key=value` pairs. `--output json`
 * keeps everything.
 */
export function tableCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return listCell(v.map((x) => (x === null ? '-' : typeof x === 'object' ? JSON.stringify(x) : String(x))));
  if (typeof v === 'object') return listCell(Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}=${typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x)}`));
  const s = String(v);
  return s.length > CELL_WIDTH ? s.slice(0, CELL_WIDTH - 3) + '...' : s;
}

function listCell(items: string[]): string {
  const all = items.join(',');
  if (all.length <= CELL_WIDTH) return all;
  let shown = '';
  let n = 0;
  for (const item of items) {
    const next = shown ? `${shown},${item}` : item;
    const rest = ` … (${items.length} in all)`;
    if (next.length + rest.length > CELL_WIDTH) break;
    shown = next;
    n++;
  }
  return `${n === 0 ? items[0]!.slice(0, CELL_WIDTH - 20) + '…' : shown} … (${items.length} in all)`;
}
