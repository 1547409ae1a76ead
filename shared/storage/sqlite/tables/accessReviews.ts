import type { Database } from 'better-sqlite3';
import { NotFoundError } from '../../../errors.js';
import type { Decision, PastDecision, ReviewSubject } from '../../../rbac/accessReview.js';

/** Access reviews and their decisions (migration 0011). */

export interface StoredReview {
  id: number;
  createdAt: string;
  createdBy: string;
  cluster: string;
  since: string;
  until: string;
  rbac: string;
  subjects: ReviewSubject[];
  decisions: PastDecision[];
}

/** A stored review's row, as either backend gives it. */
export interface ReviewRow {
  id: number;
  created_at: number;
  created_by: string;
  cluster: string;
  window_since: number;
  window_until: number;
  rbac: string;
  subjects: string;
}

const iso = (micros: number) => new Date(micros / 1000).toISOString();

/** A stored decision's row, as either backend gives it. */
export interface DecisionRow {
  subject: string;
  decision: Decision;
  reviewer: string;
  note: string | null;
  decided_at: number;
}

/** The decisions of a review, in the order made. */
export const DECISIONS_OF_REVIEW = 'SELECT subject, decision, reviewer, note, decided_at FROM access_review_decisions WHERE review_id = ? ORDER BY id';

function decisionsOf(db: Database, reviewId: number): PastDecision[] {
  return (db.prepare(DECISIONS_OF_REVIEW).all(reviewId) as DecisionRow[]).map(pastDecision);
}

export function pastDecision(d: DecisionRow): PastDecision {
  return { subject: d.subject, decision: d.decision, reviewer: d.reviewer, note: d.note, decidedAt: iso(d.decided_at) };
}

function toReview(db: Database, r: ReviewRow): StoredReview {
  return storedReview(r, decisionsOf(db, r.id));
}

export function storedReview(r: ReviewRow, decisions: PastDecision[]): StoredReview {
  return {
    id: r.id,
    createdAt: iso(r.created_at),
    createdBy: r.created_by,
    cluster: r.cluster,
    since: iso(r.window_since),
    until: iso(r.window_until),
    rbac: r.rbac,
    subjects: JSON.parse(r.subjects) as ReviewSubject[],
    decisions,
  };
}

/** A review as exported, before it is kept (times in microseconds). */
export interface NewReview {
  createdAt: number;
  createdBy: string;
  cluster: string;
  since: number;
  until: number;
  rbac: string;
  subjects: ReviewSubject[];
}

/** A review in the list: how many subjects and decisions it has. */
export interface ReviewSummary {
  id: number;
  createdAt: string;
  createdBy: string;
  cluster: string;
  subjects: number;
  decisions: number;
  lastDecision: string | null;
}

/** One reviewer's decision on one subject of a review. */
export interface NewDecision {
  reviewId: number;
  subject: string;
  decision: Decision;
  reviewer: string;
  note: string | null;
  at: number;
}

export function saveReview(db: Database, r: NewReview): number {
  const info = db
    .prepare('INSERT INTO access_reviews (created_at, created_by, cluster, window_since, window_until, rbac, subjects) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(r.createdAt, r.createdBy, r.cluster, r.since, r.until, r.rbac, JSON.stringify(r.subjects));
  return Number(info.lastInsertRowid);
}

export function getReview(db: Database, id: number): StoredReview {
  const r = db.prepare('SELECT * FROM access_reviews WHERE id = ?').get(id) as ReviewRow | undefined;
  if (!r) throw new NotFoundError(`no access review #${id}; kubetrail review list shows them`);
  return toReview(db, r);
}

/** The newest review of the cluster, or null. */
export function latestReview(db: Database, cluster: string): StoredReview | null {
  const r = db.prepare('SELECT * FROM access_reviews WHERE cluster = ? ORDER BY id DESC LIMIT 1').get(cluster) as ReviewRow | undefined;
  return r ? toReview(db, r) : null;
}

/** The newest review of the cluster in which someone recorded a decision: the last review actually carried out. */
export function lastDecidedReview(db: Database, cluster: string): StoredReview | null {
  const r = db
    .prepare('SELECT * FROM access_reviews r WHERE cluster = ? AND EXISTS (SELECT 1 FROM access_review_decisions d WHERE d.review_id = r.id) ORDER BY id DESC LIMIT 1')
    .get(cluster) as ReviewRow | undefined;
  return r ? toReview(db, r) : null;
}

/** The reviews newest first, with counts; `subjectCount` is the engine's length of the subjects' JSON array. */
export const LIST_REVIEWS = (subjectCount: string) => `SELECT r.id, r.created_at, r.created_by, r.cluster, ${subjectCount} AS subjects,
    (SELECT count(*) FROM access_review_decisions d WHERE d.review_id = r.id) AS decisions,
    (SELECT max(decided_at) FROM access_review_decisions d WHERE d.review_id = r.id) AS last
  FROM access_reviews r ORDER BY r.id DESC`;

export interface ReviewSummaryRow {
  id: number;
  created_at: number;
  created_by: string;
  cluster: string;
  subjects: number;
  decisions: number;
  last: number | null;
}

export function reviewSummary(r: ReviewSummaryRow): ReviewSummary {
  return { id: r.id, createdAt: iso(r.created_at), createdBy: r.created_by, cluster: r.cluster, subjects: r.subjects, decisions: r.decisions, lastDecision: r.last === null ? null : iso(r.last) };
}

export function listReviews(db: Database): ReviewSummary[] {
  return (db.prepare(LIST_REVIEWS('json_array_length(r.subjects)')).all() as ReviewSummaryRow[]).map(reviewSummary);
}

export function recordDecision(db: Database, d: NewDecision): void {
  db.prepare('INSERT INTO access_review_decisions (review_id, subject, decision, reviewer, note, decided_at) VALUES (?, ?, ?, ?, ?, ?)').run(d.reviewId, d.subject, d.decision, d.reviewer, d.note, d.at);
}
