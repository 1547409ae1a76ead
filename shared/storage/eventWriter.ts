import { isDeepStrictEqual } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import type { Statement } from 'better-sqlite3';
import { createRedactor, redactBodies, type Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { Dimensions } from './dimensions.js';
import { eventToRecord, recordToEvent } from './eventRecord.js';
import { createEventLookup } from './eventQuery.js';
import { auditIdToKey } from './auditId.js';
import type { Store } from './openStore.js';

/** One unit of input to store: events and rejected items from one source, for one cluster. */
export interface WriteBatch {
  cluster: string;
  /** `webhook`, `file`, `kafka`: recorded with quarantined input. */
  source: string;
  events: ParsedEvent[];
  rejected: RejectedInput[];
}

export interface WriteResult {
  accepted: number;
  duplicates: number;
  quarantined: number;
  /**
   * Duplicates whose content differs from the stored event (a client-set Audit-ID reused by
   * another request, or edited input). Counted in `duplicates` as the key says, and kept in
   * the quarantine table for review, so that nothing is dropped unseen.
   */
  conflicts: number;
}

/** Work to do in the same transaction as a batch (e.g. saving a file offset). */
export type InTransaction = () => void;

/**
 * Writes batches of events into the store. A call to `write` is one transaction: every event
 * of every batch given is committed, or none is. Re-delivered events — the same
 * (cluster, auditID, stage) — are counted as duplicates and not stored again.
 */
export class EventWriter {
  private readonly dims: Dimensions;
  private readonly redact: Redactor;
  private readonly insertEvent: Statement;
  private readonly insertBody: Statement;
  private readonly insertQuarantine: Statement;
  private readonly lookup: ReturnType<typeof createEventLookup>;

  constructor(private readonly store: Store, private readonly quarantineMaxBytes = 1 << 20) {
    const db = store.db;
    this.dims = new Dimensions(db);
    this.redact = createRedactor(store.redactionKey);
    this.insertEvent = db.prepare(`INSERT INTO events (
        cluster_id, audit_id, stage, level, received_at, stage_delay, verb_id, user_id, impersonated_id,
        source_ips_id, user_agent_id, resource_id, object_id, resource_version, path_id, query, code,
        decision, reason_id, annotations_id, shape, residual, source_version, has_body)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (cluster_id, audit_id, stage) DO NOTHING`);
    this.lookup = createEventLookup(db);
    this.insertBody = db.prepare('INSERT INTO bodies (event_id, request, response) VALUES (?, ?, ?)');
    this.insertQuarantine = db.prepare(`INSERT INTO quarantine
        (received_at, source, cluster, position, reason, raw, raw_size) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  }

  /** Stores the batches in one transaction; `also` runs inside it. Throws when it cannot commit. */
  write(batches: WriteBatch[], also?: InTransaction): WriteResult[] {
    try {
      const results = this.store.db.transaction(() => {
        const out = batches.map((b) => this.writeOne(b));
        also?.();
        return out;
      }).immediate();
      this.dims.commit();
      return results;
    } catch (err) {
      this.dims.rollback();
      throw err;
    }
  }

  private writeOne(batch: WriteBatch): WriteResult {
    const result: WriteResult = { accepted: 0, duplicates: 0, quarantined: 0, conflicts: 0 };
    const d = this.dims;
    const clusterId = d.string(batch.cluster);
    for (const parsed of batch.events) {
      const r = eventToRecord(parsed, batch.cluster);
      const e = parsed.event;
      const hasBody = e.requestObject !== undefined || e.responseObject !== undefined;
      const key = auditIdToKey(r.auditID);
      const info = this.insertEvent.run(
        clusterId,
        key,
        r.stage,
        r.level,
        r.receivedAt,
        r.stageDelay,
        d.string(r.verb),
        d.principal(r.user, r.username),
        r.impersonatedUser === null ? null : d.principal(r.impersonatedUser, r.impersonatedUsername!),
        r.sourceIPs === null ? null : d.string(r.sourceIPs),
        r.userAgent === null ? null : d.string(r.userAgent),
        r.apiResource && d.apiResource(r.apiResource),
        r.object && d.object(r.object),
        r.resourceVersion,
        r.path === null ? null : d.string(r.path),
        r.query,
        r.code,
        r.decision,
        r.reason === null ? null : d.string(r.reason),
        r.annotations === null ? null : d.string(r.annotations),
        r.shape,
        r.residual,
        r.sourceVersion,
        hasBody ? 1 : 0,
      );
      if (info.changes === 0) {
        result.duplicates++;
        const stored = this.lookup(clusterId, key, r.stage);
        if (stored && !isDeepStrictEqual(stored, recordToEvent(r))) {
          result.conflicts++;
          const reason = `conflicting duplicate: auditID ${r.auditID} stage ${e.stage} is already stored with different content; this copy was not stored`;
          this.quarantine(batch.source, batch.cluster, { position: parsed.position, reason, raw: JSON.stringify(e) });
        }
        continue;
      }
      result.accepted++;
      if (hasBody) {
        const bodies = redactBodies(e, this.redact);
        this.insertBody.run(info.lastInsertRowid, compressJson(bodies.requestObject), compressJson(bodies.responseObject));
      }
    }
    for (const rej of batch.rejected) {
      this.quarantine(batch.source, batch.cluster, rej);
      result.quarantined++;
    }
    return result;
  }

  private quarantine(source: string, cluster: string, rej: RejectedInput): void {
    const raw = typeof rej.raw === 'string' ? Buffer.from(rej.raw, 'utf8') : Buffer.from(rej.raw);
    const kept = raw.length > this.quarantineMaxBytes ? raw.subarray(0, this.quarantineMaxBytes) : raw;
    this.insertQuarantine.run(Date.now() * 1000, source, cluster, rej.position, rej.reason, kept, raw.length);
  }
}

function compressJson(value: unknown): Buffer | null {
  return value === undefined ? null : deflateRawSync(JSON.stringify(value));
}
