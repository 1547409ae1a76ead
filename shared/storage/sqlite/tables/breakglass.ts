import type { Database } from 'better-sqlite3';
import { formatMicroTime } from '../../../audit/time.js';
import { InputError } from '../../../errors.js';

/** A break-glass checkout (PCI DSS 8.2.2): who used a shared account, when, approved by whom, why. */
export interface Checkout {
  id: number;
  account: string;
  person: string;
  approvedBy: string;
  reason: string;
  ticket: string;
  from: string;
  until: string;
  closed: string | null;
}

export const CHECKOUT_COLUMNS: (keyof Checkout)[] = ['id', 'account', 'person', 'approvedBy', 'ticket', 'from', 'until', 'closed', 'reason'];

export interface NewCheckout {
  account: string;
  person: string;
  approvedBy: string;
  reason: string;
  ticket: string;
  /** Microseconds since the epoch; the window is [fromAt, untilAt). */
  fromAt: number;
  untilAt: number;
}

/**
 * Records a checkout. The window must be non-empty and may not overlap another open checkout
 * of the same account: one account, one person at a time.
 */
export function createCheckout(db: Database, c: NewCheckout, nowMicros: number): Checkout {
  checkNewCheckout(c);
  return db.transaction(() => {
    const clash = db
      .prepare(`SELECT id, person FROM breakglass_checkouts WHERE account = ? AND from_at < ? AND ? < min(until_at, coalesce(closed_at, until_at))`)
      .get(c.account, c.untilAt, c.fromAt) as { id: number; person: string } | undefined;
    if (clash) throw clashError(c, clash);
    const info = db
      .prepare(`INSERT INTO breakglass_checkouts (account, person, approved_by, reason, ticket, from_at, until_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(c.account, c.person, c.approvedBy, c.reason, c.ticket, c.fromAt, c.untilAt, nowMicros);
    return getCheckout(db, Number(info.lastInsertRowid))!;
  }).immediate();
}

/** Refuses a checkout that names no one, approves itself or has an empty window. */
export function checkNewCheckout(c: NewCheckout): void {
  for (const [k, v] of Object.entries({ account: c.account, person: c.person, 'approved-by': c.approvedBy, reason: c.reason, ticket: c.ticket })) {
    if (v.trim() === '') throw new InputError(`--${k}: must not be empty`);
  }
  if (c.approvedBy === c.person) throw new InputError('--approved-by: a checkout must be approved by someone other than the person using it');
  if (c.untilAt <= c.fromAt) throw new InputError('--until must be after --from');
}

export function clashError(c: NewCheckout, clash: { id: number; person: string }): InputError {
  return new InputError(`account ${c.account} is already checked out to ${clash.person} in that window (checkout #${clash.id}); close it first`);
}

/** Ends a checkout now (or at `atMicros`); uses after it are unattributed again. */
export function closeCheckout(db: Database, id: number, atMicros: number): Checkout {
  checkClosable(id, getCheckout(db, id));
  db.prepare('UPDATE breakglass_checkouts SET closed_at = ? WHERE id = ?').run(atMicros, id);
  return getCheckout(db, id)!;
}

export function checkClosable(id: number, row: Checkout | undefined): void {
  if (!row) throw new InputError(`no break-glass checkout #${id}`);
  if (row.closed !== null) throw new InputError(`checkout #${id} was already closed at ${row.closed}`);
}

export function getCheckout(db: Database, id: number): Checkout | undefined {
  const r = db.prepare('SELECT * FROM breakglass_checkouts WHERE id = ?').get(id) as CheckoutRow | undefined;
  return r && toCheckout(r);
}

/** Every checkout, newest first. */
export function listCheckouts(db: Database): Checkout[] {
  return (db.prepare('SELECT * FROM breakglass_checkouts ORDER BY from_at DESC, id DESC').all() as CheckoutRow[]).map(toCheckout);
}

export interface CheckoutRow {
  id: number;
  account: string;
  person: string;
  approved_by: string;
  reason: string;
  ticket: string;
  from_at: number;
  until_at: number;
  closed_at: number | null;
}

export function toCheckout(r: CheckoutRow): Checkout {
  return {
    id: r.id,
    account: r.account,
    person: r.person,
    approvedBy: r.approved_by,
    reason: r.reason,
    ticket: r.ticket,
    from: formatMicroTime(r.from_at),
    until: formatMicroTime(r.until_at),
    closed: r.closed_at === null ? null : formatMicroTime(r.closed_at),
  };
}
