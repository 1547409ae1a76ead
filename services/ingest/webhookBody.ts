import { jsonErrorReason } from '../../shared/audit/jsonError.js';
import { parsePayload } from '../../shared/audit/parsePayload.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';

/** The batch of a webhook body: its events, or the whole body quarantined when it is not audit JSON. */
export function bodyToBatch(body: Buffer, cluster: string): { batch: WriteBatch; badBody: string | null } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return quarantined(body, cluster, `body is not JSON: ${jsonErrorReason(err)}`);
  }
  const outcome = parsePayload(value, '');
  if ('notAudit' in outcome) return quarantined(body, cluster, outcome.notAudit);
  return { batch: { cluster, source: 'webhook', events: outcome.events, rejected: outcome.rejected }, badBody: null };
}

function quarantined(body: Buffer, cluster: string, reason: string): { batch: WriteBatch; badBody: string } {
  return { batch: { cluster, source: 'webhook', events: [], rejected: [{ position: 'webhook body', reason, raw: body }] }, badBody: reason };
}
