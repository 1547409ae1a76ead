/**
 * Rows of the query API: the server's own types (erased from the bundle), so that the console
 * cannot drift from what the API sends; and the few answers the API builds inline.
 */
import type { ActionRow } from '../../shared/audit/actionRow.js';
import type { IdentityRow, TimelineRow } from '../../shared/storage/sqlite/queries/identityQuery.js';
import type { ClusterIngest } from '../../shared/storage/sqlite/queries/ingestStatus.js';

export type { ActionRow as Action } from '../../shared/audit/actionRow.js';
export type { AlertRow as Alert } from '../../shared/storage/sqlite/queries/alertQuery.js';
export type { Checkout } from '../../shared/storage/sqlite/tables/breakglass.js';
export type { IdentityRow as Identity } from '../../shared/storage/sqlite/queries/identityQuery.js';
export type { QuarantineRow as Quarantined } from '../../shared/storage/sqlite/queries/ingestStatus.js';
export type { GapRow as Gap } from '../../shared/storage/sqlite/tables/pipelineGaps.js';
export type { SubjectReport, UsageReport } from '../../shared/rbac/usageReport.js';

/** GET /events/{cluster}/{auditID} */
export interface ActionDetail extends ActionRow {
  bodiesShown: boolean;
  stages: Record<string, unknown>[];
}

/** GET /identities/{id} */
export interface IdentityDetail {
  identity: string;
  kind: string;
  people: IdentityRow[];
}

/** GET /identities/{id}/timeline */
export interface Timeline {
  identity: string;
  bucket: 'hour' | 'day';
  /** The range asked for (since null: from the first activity). */
  since: string | null;
  until: string;
  items: TimelineRow[];
}

/** GET /ingest/status */
export interface IngestStatus {
  time: string;
  clusters: ClusterIngest[];
  sinceStart: { uptimeSeconds: number; sources: Record<string, Record<string, number>> };
  kafkaLag: { topic: string; partition: number; lag: number }[];
}

/** GET /coverage */
export interface Coverage {
  cluster: string;
  since: string;
  until: string;
  stats: { events: number; reads: number; writes: number; writesWithBody: number; users: number; usersWithGroups: number };
  items: { name: string; kind: 'detection' | 'report'; state: 'working' | 'degraded' | 'blind'; why: string[]; fix: string | null }[];
}

/** GET /rbac/recommend, each item */
export interface Recommendation {
  target: string;
  regressions: number;
  yaml: string;
}
