import { isAksRecord, isAksRecords, unwrapAksRecord, unwrapAksRecords } from './aks.js';
import { isEksFilterOutput, isEksLogEvent, isEksSubscription, isInsightsRow, unwrapEksFilterOutput, unwrapEksLogEvent, unwrapEksSubscription, unwrapInsightsRow } from './eks.js';
import { isFirehoseRequest, unwrapFirehose } from './firehose.js';
import { isGkeEntry, isPubSubPush, pubSubData, unwrapGkeEntry } from './gke.js';
import { emptyUnwrapped, isRecord, parseCarried, type Unwrapped } from './unwrapped.js';

/**
 * The managed clusters' audit logs as their providers deliver them (spec/k8s-audit.md §9),
 * recognized record by record: EKS (CloudWatch Logs subscription payloads, exported log events,
 * Logs Insights rows, Firehose HTTP endpoint deliveries), GKE (Cloud Audit Logs entries, also inside a Pub/Sub push), AKS
 * (diagnostic records). Returns null for anything else (a native Event, an EventList).
 */
export function unwrapCloud(v: Record<string, unknown>, position: string): Unwrapped | null {
  if (v.kind !== undefined || v.auditID !== undefined) return null;
  if (isEksSubscription(v)) return unwrapEksSubscription(v, position);
  if (isFirehoseRequest(v)) return unwrapFirehose(v, position, unwrapCloud);
  if (isAksRecords(v)) return unwrapAksRecords(v, position);
  if (isAksRecord(v)) return unwrapAksRecord(v, position);
  if (isGkeEntry(v)) return unwrapGkeEntry(v, position);
  if (isInsightsRow(v)) return unwrapInsightsRow(v, position);
  if (isEksFilterOutput(v)) return unwrapEksFilterOutput(v, position);
  if (isEksLogEvent(v)) return unwrapEksLogEvent(v, position);
  if (isPubSubPush(v)) {
    const parsed = parseCarried(pubSubData(v));
    if ('value' in parsed && isRecord(parsed.value) && isGkeEntry(parsed.value)) return unwrapGkeEntry(parsed.value, `${position} message.data`);
    const out = emptyUnwrapped('Pub/Sub push message');
    out.rejected.push({ position, reason: `Pub/Sub push message: message.data: expected a GKE Cloud Audit Log entry as base64 JSON${'reason' in parsed ? `, ${parsed.reason}` : ''}`, raw: JSON.stringify(v) });
    return out;
  }
  return null;
}
