import { emptyUnwrapped, isRecord, mergeUnwrapped, parseCarried, type Unwrapped } from './unwrapped.js';

/**
 * Amazon EKS: the audit log as CloudWatch Logs delivers it (spec/k8s-audit.md §9.1). Each
 * CloudWatch log event's `message` is one Event as JSON text, in the log group
 * `/aws/eks/<cluster>/cluster`, streams `kube-apiserver-audit-*`.
 */

/** What CloudWatch Logs appends to a message it cut at its size limit (256 KB). */
const TRUNCATED = '[Truncated...]';

/** The cluster a log group names: `/aws/eks/<cluster>/cluster`. */
export function eksCluster(logGroup: unknown): string | undefined {
  return typeof logGroup === 'string' ? /^\/aws\/eks\/([^/]+)\/cluster$/.exec(logGroup)?.[1] : undefined;
}

/** Whether a stream of the log group holds the audit log (other control-plane logs share the group). */
const isAuditStream = (stream: unknown) => typeof stream !== 'string' || stream.startsWith('kube-apiserver-audit');

/** One CloudWatch message: the Event it holds, or why it cannot be read. */
function addMessage(out: Unwrapped, message: unknown, position: string, cluster: string | undefined): void {
  if (typeof message !== 'string') {
    out.rejected.push({ position, reason: `EKS CloudWatch log event: message: expected the Event as JSON text, got ${message === null ? 'null' : typeof message}`, raw: JSON.stringify(message) ?? '' });
    return;
  }
  if (message.trimEnd().endsWith(TRUNCATED)) {
    out.rejected.push({ position, reason: 'EKS CloudWatch log event: CloudWatch Logs truncated this message at its size limit ([Truncated...]): the Event is incomplete and was not stored', raw: message });
    return;
  }
  const parsed = parseCarried(message);
  if ('reason' in parsed) out.rejected.push({ position, reason: `EKS CloudWatch log event: message: ${parsed.reason}`, raw: message });
  else out.carried.push({ value: parsed.value, position, ...(cluster ? { cluster } : {}) });
}

/** A subscription filter's payload (as Kinesis, Firehose or a Lambda receive it, decoded). */
export function isEksSubscription(v: Record<string, unknown>): boolean {
  return (v.messageType === 'DATA_MESSAGE' || v.messageType === 'CONTROL_MESSAGE') && (Array.isArray(v.logEvents) || v.messageType === 'CONTROL_MESSAGE');
}

export function unwrapEksSubscription(v: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('EKS CloudWatch Logs subscription');
  // CloudWatch checks that the destination is reachable with a control message: nothing to store.
  if (v.messageType === 'CONTROL_MESSAGE' || !Array.isArray(v.logEvents)) {
    out.skipped++;
    return out;
  }
  const cluster = eksCluster(v.logGroup);
  if (!isAuditStream(v.logStream)) {
    out.skipped += v.logEvents.length;
    return out;
  }
  v.logEvents.forEach((e, i) => addMessage(out, isRecord(e) ? e.message : e, `${position} logEvents ${i}`, cluster));
  return out;
}

/**
 * A CloudWatch log event as `aws logs filter-log-events` or an S3 export gives it, one per line:
 * `{timestamp, message}` (with logStreamName, eventId, ingestionTime when the CLI printed it).
 */
export function isEksLogEvent(v: Record<string, unknown>): boolean {
  return typeof v.message === 'string' && (typeof v.timestamp === 'number' || typeof v.logStreamName === 'string') && v.kind === undefined;
}

export function unwrapEksLogEvent(v: Record<string, unknown>, position: string, cluster?: string): Unwrapped {
  const out = emptyUnwrapped('EKS CloudWatch log event');
  if (!isAuditStream(v.logStreamName)) out.skipped++;
  else addMessage(out, v.message, position, cluster);
  return out;
}

/** `aws logs filter-log-events` printed whole: `{events: [...], searchedLogStreams: [...]}`. */
export function isEksFilterOutput(v: Record<string, unknown>): boolean {
  return Array.isArray(v.events) && v.kind === undefined && (Array.isArray(v.searchedLogStreams) || v.events.every((e) => isRecord(e) && 'message' in e));
}

export function unwrapEksFilterOutput(v: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('EKS filter-log-events output');
  (v.events as unknown[]).forEach((e, i) => {
    const one = isRecord(e) ? unwrapEksLogEvent(e, `${position} events ${i}`) : null;
    if (!one) {
      out.rejected.push({ position: `${position} events ${i}`, reason: 'EKS filter-log-events output: expected a log event object', raw: JSON.stringify(e) ?? '' });
      return;
    }
    mergeUnwrapped(out, one);
  });
  return out;
}

/** A row of a CloudWatch Logs Insights export: `@message` holds the Event, as an object or as its JSON text. */
export function isInsightsRow(v: Record<string, unknown>): boolean {
  return '@message' in v;
}

export function unwrapInsightsRow(v: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('CloudWatch Logs Insights row');
  const message = v['@message'];
  // `@log` is `<account>:<log group>`.
  const cluster = eksCluster(typeof v['@log'] === 'string' ? v['@log'].replace(/^\d+:/, '') : undefined);
  if (isRecord(message)) out.carried.push({ value: message, position, ...(cluster ? { cluster } : {}) });
  else if (isAuditStream(v['@logStream'])) addMessage(out, message, position, cluster);
  else out.skipped++;
  return out;
}
