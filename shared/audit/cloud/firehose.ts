import { gunzipSync } from 'node:zlib';
import { concatenatedJson } from './delivered.js';
import { emptyUnwrapped, isRecord, mergeUnwrapped, type Unwrapped } from './unwrapped.js';

/**
 * An Amazon Data Firehose HTTP endpoint delivery (`{requestId, timestamp, records: [{data}]}`):
 * each record's data is base64 of what the stream carried: a CloudWatch Logs subscription
 * payload gzipped (or decompressed by Firehose), or, with message extraction, the log
 * messages themselves (one Event per line). What it holds is read as the other records are.
 */

const MAX_INFLATED = 64 * 1024 * 1024;

export function isFirehoseRequest(v: Record<string, unknown>): boolean {
  return typeof v.requestId === 'string' && Array.isArray(v.records) && v.records.every((r) => isRecord(r) && typeof r.data === 'string');
}

/** The JSON values a record's data holds: one document, several written one after another, or lines. */
function valuesOf(text: string): unknown[] | { reason: string } {
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    const joined = concatenatedJson(text);
    if (joined) return joined;
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    try {
      return lines.map((l) => JSON.parse(l) as unknown);
    } catch (err) {
      return { reason: `not JSON (${err instanceof Error ? err.message : String(err)})` };
    }
  }
}

export function unwrapFirehose(v: Record<string, unknown>, position: string, inner: (value: Record<string, unknown>, position: string) => Unwrapped | null): Unwrapped {
  const out = emptyUnwrapped('Firehose delivery');
  (v.records as { data: string }[]).forEach((r, i) => {
    const at = `${position ? `${position} ` : ''}records ${i}`;
    let bytes = Buffer.from(r.data, 'base64');
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes, { maxOutputLength: MAX_INFLATED });
      } catch (err) {
        out.rejected.push({ position: at, reason: `Firehose record: data is gzip that does not inflate (${err instanceof Error ? err.message : String(err)})`, raw: r.data });
        return;
      }
    }
    const values = valuesOf(bytes.toString('utf8'));
    if (!Array.isArray(values)) {
      out.rejected.push({ position: at, reason: `Firehose record: data: ${values.reason}`, raw: r.data });
      return;
    }
    values.forEach((value, k) => {
      const where = values.length > 1 ? `${at} document ${k}` : at;
      const wrapped = isRecord(value) ? inner(value, where) : null;
      if (!wrapped) {
        // Message extraction: the Event itself.
        out.carried.push({ value, position: where });
        return;
      }
      mergeUnwrapped(out, wrapped);
    });
  });
  return out;
}
