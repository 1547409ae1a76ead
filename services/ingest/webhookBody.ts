import { jsonErrorReason } from '../../shared/audit/jsonError.js';
import { JsonDepthError, JsonScanError, JsonWidthError } from '../../shared/audit/jsonScan.js';
import { LARGE_BODY_BYTES, UnreadableItem, decodeWithLargeBodies } from '../../shared/audit/largeBody.js';
import { parsePayload } from '../../shared/audit/parsePayload.js';
import type { WriteBatch } from '../../shared/pipeline/prepareEvent.js';

/**
 * The batch of a webhook body: its events, or the whole body quarantined when it is not audit JSON.
 * `largeBodies` (the body thread, which hands the store records, not events): a body over
 * LARGE_BODY_BYTES is scanned instead of decoded whole, its large request and response bodies
 * kept as bytes (shared/audit/largeBody.ts). Where events travel on as JSON (the Kafka relay),
 * bodies are decoded whole.
 */
export function bodyToBatch(received: Buffer, cluster: string, largeBodies = false): { batch: WriteBatch; badBody: string | null } {
  // A UTF-8 byte order mark (which RFC 8259 lets a reader ignore), as a storage export may carry.
  const body = received[0] === 0xef && received[1] === 0xbb && received[2] === 0xbf ? received.subarray(3) : received;
  let value: unknown;
  try {
    value = largeBodies && body.length > LARGE_BODY_BYTES ? decodeWithLargeBodies(body) : JSON.parse(body.toString('utf8'));
  } catch (err) {
    if (err instanceof JsonWidthError || err instanceof JsonDepthError) {
      return quarantined(body, cluster, `body refused: ${err.message}`);
    }
    return quarantined(body, cluster, `body is not JSON: ${err instanceof JsonScanError ? err.message : jsonErrorReason(err)}`);
  }
  if (value instanceof UnreadableItem) return quarantined(body, cluster, `body refused: ${value.reason}`);
  const outcome = parsePayload(value, '');
  if ('notAudit' in outcome) return quarantined(body, cluster, outcome.notAudit);
  return { batch: { cluster, source: 'webhook', events: outcome.events, rejected: outcome.rejected }, badBody: null };
}

function quarantined(body: Buffer, cluster: string, reason: string): { batch: WriteBatch; badBody: string } {
  return { batch: { cluster, source: 'webhook', events: [], rejected: [{ position: 'webhook body', reason, raw: body }] }, badBody: reason };
}
