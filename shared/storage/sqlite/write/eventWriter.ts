import type { Statement } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';
import { quarantineForm } from '../../../audit/quarantineForm.js';
import { redactOldQuarantine } from '../tables/quarantineRedaction.js';
import { createRedactor, type Redactor } from '../../../audit/redact.js';
import type { RejectedInput } from '../../../audit/types.js';
import type { IdentityRule } from '../../../identity/identityMap.js';
import { AlertStore } from '../tables/alertStore.js';
import { Dimensions } from './dimensions.js';
import { createRowReader } from '../queries/eventQuery.js';
import { COL, EVENT_COLUMNS, INSERT_EVENT, recordsToRows, type EventRow, type RowBatch } from './eventRows.js';
import type { RecordBatch } from '../../recordBatch.js';

export type { WriteOptions, WriteResult };
import { createFollowOffsetSaver, type FollowOffset } from '../tables/followOffsets.js';
import type { WriteOptions, WriteResult } from '../../port.js';
import { ChainAppender } from '../chain/hashChain.js';
import { CredentialMinters } from '../tables/credentialMinters.js';
import { IdentityStore } from '../tables/identityStore.js';
import type { Store } from '../openStore.js';
import { UsageRollups, dayOf } from '../tables/usageRollups.js';



export interface EventWriterOptions {
  /** When quarantined input, alerts and chain links were recorded. */
  clock: Clock;
  /** The key of the redaction markers (kept outside the store: storage/redactionKey.ts). */
  redactionKey: Uint8Array;
  identityMap?: readonly IdentityRule[];
  /** Findings of one rule and key within this much of an open alert join it (default 1 h). */
  alertThrottleSeconds?: number;
  /**
   * false: append no hash-chain links (the benchmark's measure of what the chain costs). The
   * next link written covers the rows stored meanwhile, so nothing stays unchained.
   */
  hashChain?: boolean;
}

/**
 * Writes batches of events into the store. A call is one transaction: every event of every
 * batch given is committed, or none is. Re-delivered events — the same (cluster, auditID,
 * stage) — are counted as duplicates and not stored again.
 */
export class EventWriter {
  private readonly redact: Redactor;
  private readonly dims: Dimensions;
  private readonly insertEvent: Statement;
  private readonly insertEventAt: Statement;
  private readonly idsGivenOut: Statement;
  /** The id the next stored event must take, when SQLite would otherwise give out an id again; else 0. */
  private reissueFrom = 0;
  private readonly insertBody: Statement;
  private readonly insertIssued: Statement;
  private readonly insertQuarantine: Statement;
  private readonly selectStored: Statement;
  private readonly readRow: (row: EventRow) => unknown;
  private readonly saveOffset: (o: FollowOffset) => void;
  private readonly alerts: AlertStore;
  private readonly usage: UsageRollups;
  private readonly selectOtherStages: Statement;
  private readonly chain: ChainAppender | null;
  private readonly clock: Clock;
  private readonly minters: CredentialMinters;
  private readonly widenSpan: Statement;
  /** The request times of this transaction's stored events, by cluster id: [first, last]. */
  private spans = new Map<number, [number, number]>();

  constructor(private readonly store: Store, private readonly quarantineMaxBytes: number, options: EventWriterOptions) {
    const db = store.db;
    this.clock = options.clock;
    const identityMap = options.identityMap ?? [];
    this.alerts = new AlertStore(db, (options.alertThrottleSeconds ?? 3600) * 1e6, options.clock);
    const identities = new IdentityStore(db, identityMap);
    identities.sync();
    this.minters = new CredentialMinters(db);
    this.dims = new Dimensions(db, (name, id, params) => {
      if (name === 'principals') this.minters.used(id, identities.add(id, params[0] as string));
      if (name === 'userTokens') this.minters.used(params[0] as number, params[1] as string | null);
      this.chain?.dimensionInserted(name, id, params);
    });
    this.redact = createRedactor(options.redactionKey);
    redactOldQuarantine(db, this.redact);
    this.readRow = createRowReader(db);
    this.usage = new UsageRollups(db);
    this.widenSpan = db.prepare(`INSERT INTO cluster_spans (cluster_id, first_at, last_at) VALUES (?, ?, ?)
      ON CONFLICT DO UPDATE SET first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`);
    // The other stages of the same request already stored, in one look: whether any (the
    // request is counted), whether one was denied, whether one counts as its use (countsAsUse).
    this.selectOtherStages = db.prepare(
      'SELECT count(*) AS n, max(decision = 2) AS denied, max(stage BETWEEN 1 AND 3) AS used FROM events WHERE received_at = ? AND audit_id = ? AND cluster_id = ? AND stage <> ?',
    );
    this.saveOffset = createFollowOffsetSaver(db, options.clock);
    this.chain = options.hashChain === false ? null : new ChainAppender(db, options.clock);
    this.insertEvent = db.prepare(INSERT_EVENT);
    this.insertEventAt = db.prepare(INSERT_EVENT.replace('INSERT INTO events (', 'INSERT INTO events (id, ').replace('VALUES (', 'VALUES (?, '));
    this.idsGivenOut = db.prepare(`SELECT (SELECT coalesce(max(id), 0) FROM events) AS stored,
      (SELECT coalesce((SELECT last_event FROM chain_links ORDER BY seq DESC LIMIT 1), 0)) AS chained`);
    this.insertBody = db.prepare('INSERT INTO bodies (event_id, request, response) VALUES (?, ?, ?)');
    this.insertIssued = db.prepare('INSERT OR IGNORE INTO issued_credentials (credential_id, event_id) VALUES (?, ?)');
    this.insertQuarantine = db.prepare(`INSERT INTO quarantine
        (received_at, source, cluster, position, reason, raw, raw_size, raw_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.selectStored = db
      .prepare(`SELECT ${EVENT_COLUMNS.join(', ')} FROM events WHERE received_at = ? AND audit_id = ? AND stage = ? AND cluster_id = ?`)
      .raw();
  }

  /**
   * Stores batches of flat records in one transaction (after interning new values in one of
   * their own). Throws when it cannot commit.
   */
  writeRecords(batches: RecordBatch[], options: WriteOptions = {}): WriteResult[] {
    return this.writeRequests([{ batches, options }])[0]!;
  }

  /**
   * Stores several requests' batches in one transaction, their `--follow` positions saved in
   * order; the results per request. Throws when it cannot commit (then none is stored).
   */
  writeRequests(requests: { batches: RecordBatch[]; options: WriteOptions }[]): WriteResult[][] {
    try {
      // Inside the try: a failed interning transaction may have told the chain of rows it rolled back.
      const rows = recordsToRows(requests.flatMap((r) => r.batches), this.dims);
      const results = this.store.db.transaction(() => {
        // SQLite gives a new row the highest stored id + 1: once retention has archived the newest
        // ids, it would give them out again, and the chain and the archives would name two rows
        // by one id. Ids continue after the highest the chain has covered instead.
        this.alerts.beginTransaction();
        const ids = this.idsGivenOut.get() as { stored: number; chained: number };
        this.reissueFrom = ids.chained > ids.stored ? ids.chained + 1 : 0;
        let next = 0;
        const results = requests.map((r) => {
          const results = rows.slice(next, (next += r.batches.length)).map((b) => this.writeOne(b));
          if (r.options.followOffset) this.saveOffset(r.options.followOffset);
          return results;
        });
        this.usage.write();
        for (const [cluster, [first, last]] of this.spans) this.widenSpan.run(cluster, first, last);
        this.chain?.append();
        return results;
      }).immediate();
      this.usage.committed();
      this.spans.clear();
      return results;
    } catch (err) {
      this.usage.rolledBack();
      this.spans.clear();
      this.chain?.reset();
      throw err;
    }
  }

  private writeOne(batch: RowBatch): WriteResult {
    const result: WriteResult = { accepted: 0, duplicates: 0, quarantined: 0, conflicts: 0 };
    let nextFinding = 0;
    for (let i = 0; i < batch.size; i++) {
      const row = batch.row(i);
      const key = row[COL.auditKey];
      if (typeof key !== 'string') row[COL.auditKey] = toBuffer(key)!;
      const info = this.reissueFrom > 0 ? this.insertEventAt.run(this.reissueFrom, ...row) : this.insertEvent.run(...row);
      if (info.changes > 0) this.reissueFrom = 0;
      // Findings of a re-delivered event were counted when it was first stored.
      const findingsFrom = nextFinding;
      while (nextFinding < batch.findings.length && batch.findings[nextFinding]![0] === i) nextFinding++;
      if (info.changes > 0) {
        result.accepted++;
        const request = row[COL.hasBody] === 1 ? toBuffer(batch.requests[i]!) : null;
        const response = row[COL.hasBody] === 1 ? toBuffer(batch.responses[i]!) : null;
        if (row[COL.hasBody] === 1) this.insertBody.run(info.lastInsertRowid, request, response);
        this.chain?.add(Number(info.lastInsertRowid), row, request, response);
        const at = row[COL.receivedAt] as number;
        const span = this.spans.get(row[COL.cluster] as number);
        if (!span) this.spans.set(row[COL.cluster] as number, [at, at]);
        else if (at < span[0]) span[0] = at;
        else if (at > span[1]) span[1] = at;
        const others = this.selectOtherStages.get(row[COL.receivedAt], row[COL.auditKey], row[COL.cluster], row[COL.stage]) as { n: number; denied: number | null; used: number | null };
        this.usage.addRequest(row[COL.user], row[COL.receivedAt], others.n === 0, row[COL.decision] === 2 && others.denied !== 1);
        const atom = batch.usage(i);
        if (atom >= 0 && !(batch.usageProbe.has(i) && others.used === 1)) {
          this.usage.add(dayOf(row[COL.receivedAt]), row[COL.cluster], row[COL.user], row[COL.impersonated], atom, row[COL.decision], row[COL.reason], 1, row[COL.receivedAt], row[COL.receivedAt], row[COL.auditKey], row[COL.auditKey]);
          this.usage.addActivity(row[COL.user], row[COL.receivedAt], row[COL.verb], row[COL.decision]);
        }
        const issued = batch.issued.get(i);
        if (issued && this.insertIssued.run(issued, info.lastInsertRowid).changes > 0) this.minters.issued(issued, row[COL.user] as number);
        for (let f = findingsFrom; f < nextFinding; f++) {
          this.alerts.record(batch.findings[f]!, { cluster: batch.cluster, receivedAt: row[COL.receivedAt], auditID: batch.auditIDs[i]!, userId: row[COL.user] });
        }
        continue;
      }
      result.duplicates++;
      const stored = this.selectStored.get(row[COL.receivedAt], row[COL.auditKey], row[COL.stage], row[COL.cluster]) as unknown[] | undefined;
      // Interning is deterministic: the same content gives the same ids, column for column
      // (the key aside, and the source version, which says how it came, not what it says).
      if (stored && row.some((v, c) => c !== COL.auditKey && c !== COL.sourceVersion && v !== stored[c])) {
        result.conflicts++;
        const incoming = this.readRow(row) as { auditID: string; stage: string };
        const reason = `conflicting duplicate: auditID ${incoming.auditID} stage ${incoming.stage} is already stored with different content; this copy was not stored`;
        this.quarantine(batch.source, batch.cluster, { position: batch.positions[i]!, reason, raw: JSON.stringify(incoming) });
      }
    }
    for (const rej of batch.rejected) {
      this.quarantine(batch.source, batch.cluster, rej);
      result.quarantined++;
    }
    return result;
  }

  /** Keeps rejected input in its safe form: redacted, never the secrets it may hold. */
  private quarantine(source: string, cluster: string, rej: RejectedInput): void {
    const q = quarantineForm(rej.raw, this.redact, this.quarantineMaxBytes);
    this.insertQuarantine.run(nowMicros(this.clock), source, cluster, rej.position, rej.reason, q.kept, q.size, q.sha256);
  }
}

/** Bytes as better-sqlite3 binds them (a Uint8Array arrives from the other thread). */
function toBuffer(bytes: Uint8Array | null): Buffer | null {
  if (bytes === null || Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
