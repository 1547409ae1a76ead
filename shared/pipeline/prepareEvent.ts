import { deflateRawSync } from 'node:zlib';
import { LargeBody } from '../audit/largeBody.js';
import { REDACTED_PREFIX, isSecretRequest, redactBodies, type Redactor } from '../audit/redact.js';
import { LargeBodyRedactionError, redactLargeBody } from '../audit/redactStream.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { eventToRecord, type EventRecord, type UserJson } from '../storage/eventRecord.js';

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
    const compress = (body: unknown): Uint8Array | null => {
      if (body === undefined) return null;
      return deflateRawSync(body instanceof LargeBody ? largeBodyJson(body, redact, isSecretRequest(e)) : JSON.stringify(body));
    };
    prepared.request = compress(bodies.requestObject);
    prepared.response = compress(bodies.responseObject);
  }
  return prepared;
}

/** A large body's redacted JSON; one whose redacted form would balloon (crafted) is kept as a marker that says so. */
function largeBodyJson(body: LargeBody, redact: Redactor, secretRequest: boolean): Buffer | string {
  try {
    return redactLargeBody(body.bytes(), redact, secretRequest);
  } catch (err) {
    if (err instanceof LargeBodyRedactionError) return JSON.stringify(`${REDACTED_PREFIX}body-not-kept: ${err.message}`);
    throw err;
  }
}
