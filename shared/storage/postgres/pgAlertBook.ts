import type pg from 'pg';
import { SEVERITIES } from '../../detect/types.js';
import type { AlertBook, CheckoutBook, Rows } from '../port.js';
import { toAlert, type AlertFilter, type AlertRow } from '../sqlite/queries/alertQuery.js';
import { checkClosable, checkNewCheckout, clashError, toCheckout, type Checkout, type CheckoutRow } from '../sqlite/tables/breakglass.js';
import { inTransaction } from './pgStore.js';

/** An alert's auditIDs in the order SQLite gives them (its primary key's, byte order). */
const AUDIT_IDS = `(SELECT coalesce(json_agg(audit_id ORDER BY audit_id COLLATE "C"), '[]')::text FROM alert_events WHERE alert_id = a.id)`;
const SELECT = `SELECT a.*, ${AUDIT_IDS} AS audit_ids FROM alerts a`;
/** The bigint columns, which come back as text. */
const NUMERIC = ['id', 'first_at', 'last_at', 'count', 'checkout_id', 'raised_at', 'acked_at', 'resolved_at', 'from_at', 'until_at', 'created_at', 'closed_at'];

function numeric<T>(r: Record<string, unknown>): T {
  for (const k of NUMERIC) if (typeof r[k] === 'string') r[k] = Number(r[k]);
  return r as T;
}

/** Alerts on PostgreSQL: read as SQLite reads them (queries/alertQuery.ts), acknowledged and resolved. */
export function pgAlertBook(pool: pg.Pool): AlertBook {
  const get = async (ids: readonly number[]) => {
    const rows = (await pool.query(`${SELECT} WHERE a.id = ANY($1::bigint[])`, [ids])).rows.map((r) => toAlert(numeric(r)));
    const byId = new Map(rows.map((a) => [a.id, a]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  };
  return {
    list: (filter) => listAlerts(pool, filter),
    get,
    setStatus: (id, status, by, atMicros) =>
      inTransaction(pool, async (client) => {
        const current = (await client.query<{ status: string }>('SELECT status FROM alerts WHERE id = $1 FOR UPDATE', [id])).rows[0]?.status;
        if (current === undefined) return { problem: 'missing' as const };
        if (current === 'resolved') return { problem: 'resolved' as const };
        if (status === 'acknowledged') {
          if (current === 'acknowledged') return { problem: 'acknowledged' as const };
          await client.query("UPDATE alerts SET status = 'acknowledged', acked_by = $1, acked_at = $2 WHERE id = $3", [by, atMicros, id]);
        } else {
          await client.query("UPDATE alerts SET status = 'resolved', resolved_by = $1, resolved_at = $2 WHERE id = $3", [by, atMicros, id]);
        }
        return toAlert(numeric((await client.query(`${SELECT} WHERE a.id = $1`, [id])).rows[0]!));
      }),
  };
}

async function* listAlerts(pool: pg.Pool, filter: AlertFilter = {}): Rows<AlertRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (filter.since !== undefined) where.push(`a.last_at >= ${p(filter.since)}`);
  if (filter.rule !== undefined) where.push(`a.rule = ${p(filter.rule)}`);
  if (filter.status !== undefined) where.push(`a.status = ${p(filter.status)}`);
  if (filter.cluster !== undefined) where.push(`a.cluster = ${p(filter.cluster)}`);
  const asc = filter.order === 'asc';
  if (filter.after !== undefined) where.push(`(a.first_at, a.id) ${asc ? '>' : '<'} (${p(filter.after.firstAt)}, ${p(filter.after.id)})`);
  if (filter.severity !== undefined) where.push(`a.severity = ANY(${p(SEVERITIES.slice(SEVERITIES.indexOf(filter.severity)))})`);
  const sql = `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.first_at ${asc ? 'ASC' : 'DESC'}, a.id ${asc ? 'ASC' : 'DESC'}${filter.limit ? ` LIMIT ${p(filter.limit)}` : ''}`;
  for (const r of (await pool.query(sql, params)).rows) yield toAlert(numeric(r));
}

/** Break-glass checkouts on PostgreSQL; a checkout's window is checked against the account's others under a lock of the account. */
export function pgCheckoutBook(pool: pg.Pool): CheckoutBook {
  const getCheckout = async (client: pg.Pool | pg.PoolClient, id: number): Promise<Checkout | undefined> => {
    const r = (await client.query('SELECT * FROM breakglass_checkouts WHERE id = $1', [id])).rows[0];
    return r && toCheckout(numeric<CheckoutRow>(r));
  };
  return {
    list: async () => (await pool.query('SELECT * FROM breakglass_checkouts ORDER BY from_at DESC, id DESC')).rows.map((r) => toCheckout(numeric<CheckoutRow>(r))),
    create: (c, nowMicros) => {
      checkNewCheckout(c);
      return inTransaction(pool, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('breakglass ' || $1, 0))", [c.account]);
        const clash = (
          await client.query<{ id: string; person: string }>(
            'SELECT id, person FROM breakglass_checkouts WHERE account = $1 AND from_at < $2 AND $3 < least(until_at, coalesce(closed_at, until_at))',
            [c.account, c.untilAt, c.fromAt],
          )
        ).rows[0];
        if (clash) throw clashError(c, { id: Number(clash.id), person: clash.person });
        const created = await client.query<{ id: string }>(
          'INSERT INTO breakglass_checkouts (account, person, approved_by, reason, ticket, from_at, until_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id',
          [c.account, c.person, c.approvedBy, c.reason, c.ticket, c.fromAt, c.untilAt, nowMicros],
        );
        return (await getCheckout(client, Number(created.rows[0]!.id)))!;
      });
    },
    close: (id, atMicros) =>
      inTransaction(pool, async (client) => {
        checkClosable(id, await getCheckout(client, id));
        await client.query('UPDATE breakglass_checkouts SET closed_at = $1 WHERE id = $2', [atMicros, id]);
        return (await getCheckout(client, id))!;
      }),
  };
}
