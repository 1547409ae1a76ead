import { deflateRawSync } from 'node:zlib';
import { redactBodies, type Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { eventToRecord, type EventRecord, type UserJson } from './eventRecord.js';

/** One unit of input to store: events and rejected items from one source, for one cluster. */
export interface WriteBatch {
  cluster: string;
  /** `webhook`, `file`, `kafka`: recorded with quarantined input. */
  source: string;
  events: ParsedEvent[];
  rejected: RejectedInput[];
}

/** An event ready for the store: its columns, and its bodies redacted and compressed. */
export interface PreparedEvent {
  record: EventRecord;
  request: Uint8Array | null;
  response: Uint8Array | null;
}

/**
 * The CPU-heavy part of storing one event (column split, redaction, compression), done on the
 * caller's thread so that the writer thread only writes.
 */
export function prepareEvent(parsed: ParsedEvent, cluster: string, redact: Redactor, users?: UserJson): PreparedEvent {
  const e = parsed.event;
  const prepared: PreparedEvent = { record: eventToRecord(parsed, cluster, users), request: null, response: null };
  if (e.requestObject !== undefined || e.responseObject !== undefined) {
    const bodies = redactBodies(e, redact);
    prepared.request = compressJson(bodies.requestObject);
    prepared.response = compressJson(bodies.responseObject);
  }
  return prepared;
}

function compressJson(value: unknown): Uint8Array | null {
  return value === undefined ? null : deflateRawSync(JSON.stringify(value));
}
