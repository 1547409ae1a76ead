import type pg from 'pg';
import type { AlertQueue, DueDelivery } from '../port.js';
import { inTransaction } from './pgStore.js';

/**
 * How far back each round looks for alerts without a delivery: a writer raises an alert (its
 * raised_at) before its transaction commits, and writers' clocks differ; an hour covers both.
 */
const LOOK_BACK_MICROS = 3_600_000_000;

/**
 * The alerter's queue on PostgreSQL, shared by every kubetrail alerter of the database. Alert
 * ids are not in commit order when several writers raise alerts, so a sink's point is a time
 * (alert_sinks.since), looked back from by an hour, and an alert gets its delivery when it has
 * none yet. A new sink gets every stored alert, as on SQLite.
 */
export function pgAlertQueue(pool: pg.Pool): AlertQueue {
  return {
    enqueue: (sinks, at) =>
      inTransaction(pool, async (c) => {
        for (const { name, severities } of sinks) {
          await c.query('INSERT INTO alert_sinks (sink, since) VALUES ($1, 0) ON CONFLICT DO NOTHING', [name]);
          const since = Number((await c.query<{ since: string }>('SELECT since FROM alert_sinks WHERE sink = $1 FOR UPDATE', [name])).rows[0]!.since);
          await c.query(
            `INSERT INTO alert_deliveries (alert_id, sink, state, next_at)
             SELECT a.id, $1, 'pending', $2 FROM alerts a
             WHERE a.raised_at >= $3 AND a.severity = ANY($4::text[]) AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.sink = $1)
             ORDER BY a.id ON CONFLICT DO NOTHING`,
            [name, at, since, severities],
          );
          await c.query('UPDATE alert_sinks SET since = greatest(since, $2) WHERE sink = $1', [name, at - LOOK_BACK_MICROS]);
        }
      }),
    claim: async (sink, at, limit, leaseUntil) => {
      const r = await pool.query<{ alert_id: string; attempts: number }>(
        `UPDATE alert_deliveries d SET next_at = $4 FROM (
           SELECT alert_id FROM alert_deliveries WHERE state = 'pending' AND sink = $1 AND next_at <= $2 ORDER BY alert_id LIMIT $3 FOR UPDATE SKIP LOCKED
         ) due WHERE d.alert_id = due.alert_id AND d.sink = $1 RETURNING d.alert_id, d.attempts`,
        [sink, at, limit, leaseUntil],
      );
      return r.rows.map((x): DueDelivery => ({ alertId: Number(x.alert_id), attempts: x.attempts })).sort((a, b) => a.alertId - b.alertId);
    },
    delivered: async (sink, deliveries, at) => {
      await pool.query("UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_error = NULL WHERE sink = $2 AND alert_id = ANY($3::bigint[])", [
        at, sink, deliveries.map((d) => d.alertId),
      ]);
    },
    failed: async (sink, deliveries, nextAt, error) => {
      await pool.query('UPDATE alert_deliveries SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE sink = $3 AND alert_id = ANY($4::bigint[])', [
        nextAt, error, sink, deliveries.map((d) => d.alertId),
      ]);
    },
  };
}
