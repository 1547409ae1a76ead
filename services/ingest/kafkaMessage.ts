import { parsePayload } from '../../shared/audit/parsePayload.js';
import type { ParseOutcome } from '../../shared/audit/types.js';
import { parseLines } from './lines.js';
import { jsonErrorReason } from '../../shared/audit/jsonError.js';

/**
 * Reads one Kafka message value (PRODUCT.md "Kafka"): one Event, an EventList, or JSON lines
 * of Events. A value that is none of these as a whole gives `unusable` with the reason (it goes
 * to the dead-letter topic); bad items inside a usable value are rejected one by one.
 */
export function parseMessageValue(value: Buffer | null, position: string): ParseOutcome | { unusable: string } {
  if (value === null || value.length === 0) return { unusable: 'empty message value (expected an Event, an EventList or JSON lines)' };
  const text = value.toString('utf8').replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    if (!text.includes('\n')) return { unusable: `not JSON: ${jsonErrorReason(err)}` };
    // JSON lines: each line is judged alone.
    const outcome = parseLines(text, position);
    if (outcome.events.length === 0) return { unusable: `not JSON lines of Events: ${outcome.rejected[0]?.reason ?? 'no events'}` };
    return outcome;
  }
  const outcome = parsePayload(doc, position);
  return 'notAudit' in outcome ? { unusable: outcome.notAudit } : outcome;
}
