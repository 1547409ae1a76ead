import type { Writable } from 'node:stream';
import { csvCell } from '../../shared/csv.js';

export const OUTPUT_FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Writes rows in one of the output formats. ndjson and csv stream row by row; json writes one
 * array, also row by row; table needs every row to size its columns.
 */
export async function writeRows<T extends object>(
  out: Writable,
  rows: Iterable<T> | AsyncIterable<T>,
  columns: (keyof T)[],
  format: OutputFormat,
): Promise<number> {
  let n = 0;
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
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

function tableCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.join(',');
  const s = String(v);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}
