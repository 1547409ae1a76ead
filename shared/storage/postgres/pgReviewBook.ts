import type pg from 'pg';
import { NotFoundError } from '../../errors.js';
import type { ReviewBook } from '../port.js';
import {
  DECISIONS_OF_REVIEW, LIST_REVIEWS, pastDecision, reviewSummary, storedReview, type DecisionRow, type ReviewRow, type ReviewSummaryRow, type StoredReview,
} from '../sqlite/tables/accessReviews.js';

/** PostgreSQL gives bigint columns as text. */
const numbers = <T>(row: Record<string, unknown>, keys: string[]): T => {
  for (const k of keys) if (typeof row[k] === 'string') row[k] = Number(row[k]);
  return row as T;
};

/** Access reviews on PostgreSQL, kept as SQLite keeps them (sqlite/tables/accessReviews.ts). */
export function pgReviewBook(pool: pg.Pool): ReviewBook {
  const review = async (sql: string, params: unknown[]): Promise<StoredReview | null> => {
    const r = (await pool.query(sql, params)).rows[0] as Record<string, unknown> | undefined;
    if (!r) return null;
    const row = numbers<ReviewRow>(r, ['id', 'created_at', 'window_since', 'window_until']);
    const decisions = (await pool.query(DECISIONS_OF_REVIEW.replace('?', '$1'), [row.id])).rows.map((d: Record<string, unknown>) => pastDecision(numbers<DecisionRow>(d, ['decided_at'])));
    return storedReview(row, decisions);
  };
  return {
    save: async (r) => {
      const saved = await pool.query<{ id: string }>(
        'INSERT INTO access_reviews (created_at, created_by, cluster, window_since, window_until, rbac, subjects) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
        [r.createdAt, r.createdBy, r.cluster, r.since, r.until, r.rbac, JSON.stringify(r.subjects)],
      );
      return Number(saved.rows[0]!.id);
    },
    get: async (id) => {
      const r = await review('SELECT * FROM access_reviews WHERE id = $1', [id]);
      if (!r) throw new NotFoundError(`no access review #${id}; kubetrail review list shows them`);
      return r;
    },
    latest: (cluster) => review('SELECT * FROM access_reviews WHERE cluster = $1 ORDER BY id DESC LIMIT 1', [cluster]),
    lastDecided: (cluster) =>
      review('SELECT * FROM access_reviews r WHERE cluster = $1 AND EXISTS (SELECT 1 FROM access_review_decisions d WHERE d.review_id = r.id) ORDER BY id DESC LIMIT 1', [cluster]),
    list: async () =>
      (await pool.query(LIST_REVIEWS('json_array_length(r.subjects::json)'))).rows.map((r: Record<string, unknown>) =>
        reviewSummary(numbers<ReviewSummaryRow>(r, ['id', 'created_at', 'decisions', 'last'])),
      ),
    recordDecision: async (d) => {
      await pool.query('INSERT INTO access_review_decisions (review_id, subject, decision, reviewer, note, decided_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        d.reviewId, d.subject, d.decision, d.reviewer, d.note, d.at,
      ]);
    },
  };
}
