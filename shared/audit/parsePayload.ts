import { unwrapCloud } from './cloud/unwrap.js';
import type { Unwrapped } from './cloud/unwrapped.js';
import { describe, isObject, parseEvent } from './parseEvent.js';
import { API_VERSIONS, type AuditApiVersion, type ParseOutcome } from './types.js';

/**
 * Reads one decoded JSON document — an Event, an EventList or a JSON array of Events — into
 * events and rejected items. Each item is judged alone: one bad item never rejects the rest.
 * Returns null when the document as a whole is not audit input (the caller answers 400 or
 * quarantines it), with the reason in `notAudit`.
 */
export function parsePayload(value: unknown, position: string): ParseOutcome | { notAudit: string } {
  const at = (i: number) => (position ? `${position} item ${i}` : `item ${i}`);
  if (Array.isArray(value)) {
    // `gcloud logging read --format=json` and Logs Insights exports are arrays of provider records.
    const outcome: ParseOutcome = { events: [], rejected: [] };
    value.forEach((item, i) => {
      const cloud = isObject(item) ? unwrapCloud(item, at(i)) : null;
      addOutcome(outcome, cloud ? fromCloud(cloud) : collect([parseEvent(item, at(i))]));
    });
    return outcome;
  }
  if (!isObject(value)) return { notAudit: `expected an audit.k8s.io Event or EventList, got ${describe(value)}` };
  const cloud = unwrapCloud(value, position);
  if (cloud) return fromCloud(cloud);
  if (value.kind === 'EventList' || (value.kind === undefined && Array.isArray(value.items))) {
    let listVersion: AuditApiVersion | undefined;
    if (value.apiVersion !== undefined) {
      if (!API_VERSIONS.includes(value.apiVersion as AuditApiVersion)) {
        return { notAudit: `EventList apiVersion: expected one of ${API_VERSIONS.join(', ')}, got ${describe(value.apiVersion)}` };
      }
      listVersion = value.apiVersion as AuditApiVersion;
    }
    if (value.items === undefined || value.items === null) return { events: [], rejected: [] };
    if (!Array.isArray(value.items)) return { notAudit: `EventList items: expected a list, got ${describe(value.items)}` };
    return collect(value.items.map((item, i) => parseEvent(item, at(i), listVersion)));
  }
  const isEventLike = value.kind === 'Event' || (value.kind === undefined && value.auditID !== undefined);
  if (!isEventLike) {
    if (value.kind !== undefined) return { notAudit: `kind: expected "Event" or "EventList", got ${describe(value.kind)}` };
    return { notAudit: 'not an audit.k8s.io Event or EventList (no kind, no auditID, no items)' };
  }
  return collect([parseEvent(value, position || 'item 0')]);
}

/** The Events a provider's records carried, each judged alone, with the cluster its record names. */
function fromCloud(u: Unwrapped): ParseOutcome {
  const outcome: ParseOutcome = { events: [], rejected: [...u.rejected], skipped: u.skipped };
  for (const c of u.carried) {
    const r = parseEvent(c.value, c.position);
    if (!('event' in r)) outcome.rejected.push({ ...r, reason: `${u.format}: ${r.reason}` });
    else outcome.events.push(c.cluster === undefined ? r : { ...r, cluster: c.cluster });
  }
  return outcome;
}

/** Adds what another unit of input gave. */
export function addOutcome(into: ParseOutcome, more: ParseOutcome): void {
  into.events.push(...more.events);
  into.rejected.push(...more.rejected);
  if (more.skipped) into.skipped = (into.skipped ?? 0) + more.skipped;
}

function collect(results: ReturnType<typeof parseEvent>[]): ParseOutcome {
  const outcome: ParseOutcome = { events: [], rejected: [] };
  for (const r of results) {
    if ('event' in r) outcome.events.push(r);
    else outcome.rejected.push(r);
  }
  return outcome;
}
