import { after } from '../../shared/calendar.js';
import { systemClock } from './clock.js';
import { parseTime } from '../../shared/audit/time.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/query/timeBound.js';
import { CHECKOUT_COLUMNS, type Checkout } from '../../shared/storage/sqlite/tables/breakglass.js';
import { usingStore } from './localStore.js';
import { writeRows, type OutputFormat } from './output.js';
import { remoteJson, remoteRows, type Remote } from './remote.js';

export interface CheckoutFlags {
  account: string;
  person: string;
  approvedBy: string;
  reason: string;
  ticket: string;
  for?: string;
  from?: string;
  until?: string;
  output: OutputFormat;
}

function time(text: string, flag: string): number {
  const t = parseTime(text.trim());
  if (t === null) throw new InputError(`${flag}: expected an RFC 3339 time such as 2026-11-27T09:00:00Z, got '${text}'`);
  return t;
}

/** `kubetrail breakglass checkout`: opens a window in which the account's actions are the person's. */
export async function checkoutCommand(config: Readonly<Config>, flags: CheckoutFlags, remote: Remote | null): Promise<void> {
  if ((flags.for === undefined) === (flags.until === undefined)) throw new InputError('give the window as --for DURATION or as --until TIME (with --from TIME, default now)');
  if (remote) {
    const body = { account: flags.account, person: flags.person, approvedBy: flags.approvedBy, reason: flags.reason, ticket: flags.ticket, from: flags.from, until: flags.until, for: flags.for };
    await writeRows(process.stdout, [await remoteJson<Checkout>(remote, 'POST', '/breakglass/checkouts', {}, body)], CHECKOUT_COLUMNS, flags.output);
    return;
  }
  const fromAt = flags.from === undefined ? systemClock() * 1000 : time(flags.from, '--from');
  const untilAt = flags.for !== undefined ? after(fromAt, parseDuration(flags.for, '--for')) : time(flags.until!, '--until');
  await usingStore(config, 'write', async (store) => {
    const c = await store.checkouts.create({ account: flags.account, person: flags.person, approvedBy: flags.approvedBy, reason: flags.reason, ticket: flags.ticket, fromAt, untilAt }, systemClock() * 1000);
    await writeRows(process.stdout, [c], CHECKOUT_COLUMNS, flags.output);
  });
}

export async function listCheckoutsCommand(config: Readonly<Config>, flags: { output: OutputFormat }, remote: Remote | null): Promise<number> {
  if (remote) return writeRows(process.stdout, remoteRows<Checkout>(remote, '/breakglass/checkouts', {}), CHECKOUT_COLUMNS, flags.output);
  return usingStore(config, 'write', async (store) => writeRows(process.stdout, await store.checkouts.list(), CHECKOUT_COLUMNS, flags.output));
}

export async function closeCheckoutCommand(config: Readonly<Config>, id: string, flags: { output: OutputFormat }, remote: Remote | null): Promise<void> {
  if (!/^\d+$/.test(id)) throw new InputError(`checkout id: expected a number, got '${id}'`);
  if (remote) {
    await writeRows(process.stdout, [await remoteJson<Checkout>(remote, 'POST', `/breakglass/checkouts/${id}/close`)], CHECKOUT_COLUMNS, flags.output);
    return;
  }
  await usingStore(config, 'write', async (store) => writeRows(process.stdout, [await store.checkouts.close(Number(id), systemClock() * 1000)], CHECKOUT_COLUMNS, flags.output));
}
