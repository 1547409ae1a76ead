import type { WriteBatch } from '../../shared/pipeline/prepareEvent.js';

/** What the relay publishes of one batch: a message per event, and the rejected input for the dead-letter topic. */
export interface RelayMessages {
  messages: { key: string; value: string }[];
  dead: { value: string | Uint8Array; reason: string; position: string }[];
}

/** One message per event keyed by auditID, so that all stages of a request land on one partition. */
export function relayMessages(batch: WriteBatch): RelayMessages {
  return {
    messages: batch.events.map((p) => ({ key: p.event.auditID, value: JSON.stringify(p.event) })),
    dead: batch.rejected.map((r) => ({ value: r.raw, reason: r.reason, position: r.position })),
  };
}
