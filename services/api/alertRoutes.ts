import { ALERT_DOCUMENTS } from '../../shared/siem/siemDocuments.js';
import { after } from '../../shared/calendar.js';
import { parseTime } from '../../shared/audit/time.js';
import { SEVERITIES, type Severity } from '../../shared/detect/types.js';
import { ConflictError, InputError, NotFoundError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/query/timeBound.js';
import { ALERT_COLUMNS, ALERT_STATUSES, type AlertFilter, type AlertStatus } from '../../shared/storage/sqlite/queries/alertQuery.js';
import { CHECKOUT_COLUMNS } from '../../shared/storage/sqlite/tables/breakglass.js';
import type { Route } from './apiRouter.js';
import { PAGING_PARAMS, bodyField, readBody, readId, readParams, readRange } from './params.js';
import { sendRows } from './respond.js';

type AlertPosition = [firstAt: number, id: number];
const isPosition = (p: unknown): p is AlertPosition => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isSafeInteger(x));

function alertStatusRoute(action: 'ack' | 'resolve'): Route {
  const status = action === 'ack' ? 'acknowledged' : 'resolved';
  return {
    method: 'post',
    path: `/alerts/:id/${action}`,
    role: 'analyst',
    handle: async (call, ctx) => {
      readParams(call.req, []);
      const id = readId(call.req.params.id as string, 'alert id');
      const r = await call.store().alerts.setStatus(id, status, call.caller.name, ctx.now() * 1000);
      if ('problem' in r) {
        if (r.problem === 'missing') throw new NotFoundError(`no alert #${id}`);
        throw new ConflictError(`alert #${id} is already ${r.problem}`);
      }
      call.rows = 1;
      return r;
    },
  };
}

export function alertRoutes(): Route[] {
  return [
    {
      method: 'get',
      path: '/alerts',
      role: 'analyst',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'severity', 'rule', 'status', 'cluster', ...PAGING_PARAMS]);
        const list = call.list(params, isPosition);
        const filter: AlertFilter = { order: list.order, limit: list.fetch, since: readRange(params, ctx.now()).since };
        if (list.after) filter.after = { firstAt: list.after[0], id: list.after[1] };
        if (params.severity !== undefined) {
          if (!(SEVERITIES as readonly string[]).includes(params.severity)) throw new InputError(`severity: expected one of ${SEVERITIES.join(', ')}, got '${params.severity}'`);
          filter.severity = params.severity as Severity;
        }
        if (params.status !== undefined) {
          if (!(ALERT_STATUSES as readonly string[]).includes(params.status)) throw new InputError(`status: expected one of ${ALERT_STATUSES.join(', ')}, got '${params.status}'`);
          filter.status = params.status as AlertStatus;
        }
        for (const k of ['rule', 'cluster'] as const) if (params[k] !== undefined) filter[k] = params[k];
        const rows = call.store(list).alerts.list(filter);
        call.rows = await sendRows(call.res, rows, list, ALERT_COLUMNS, (last) => list.cursorAt([parseTime(last.time)!, last.id]), {}, ALERT_DOCUMENTS);
      },
    },
    alertStatusRoute('ack'),
    alertStatusRoute('resolve'),
    {
      method: 'get',
      path: '/breakglass/checkouts',
      role: 'analyst',
      handle: async (call) => {
        const params = readParams(call.req, ['format']);
        const paging = call.paging({ ...params, limit: undefined });
        // Checkouts are few; one list, unpaged.
        const rows = await call.store().checkouts.list();
        call.rows = await sendRows(call.res, rows, { ...paging, limit: rows.length + 1 }, CHECKOUT_COLUMNS, null);
      },
    },
    {
      method: 'post',
      path: '/breakglass/checkouts',
      role: 'analyst',
      handle: async (call, ctx) => {
        readParams(call.req, []);
        const b = readBody(call.req, ['account', 'person', 'approvedBy', 'reason', 'ticket', 'from', 'until', 'for'], 'account, person, approvedBy, reason, ticket, and for or until');
        const time = (k: string) => {
          const t = parseTime(bodyField(b, k)!);
          if (t === null) throw new InputError(`body.${k}: expected an RFC 3339 time such as 2026-11-27T09:00:00Z`);
          return t;
        };
        if ((b.for === undefined) === (b.until === undefined)) throw new InputError('body: give the window as for (a duration such as 2h) or as until (an RFC 3339 time)');
        const fromAt = b.from === undefined ? ctx.now() * 1000 : time('from');
        const untilAt = b.for !== undefined ? after(fromAt, parseDuration(bodyField(b, 'for')!, 'body.for')) : time('until');
        const c = await call.store().checkouts.create({
          account: bodyField(b, 'account')!, person: bodyField(b, 'person')!, approvedBy: bodyField(b, 'approvedBy')!, reason: bodyField(b, 'reason')!, ticket: bodyField(b, 'ticket')!, fromAt, untilAt,
        }, ctx.now() * 1000);
        call.rows = 1;
        call.res.status(201);
        return c;
      },
    },
    {
      method: 'post',
      path: '/breakglass/checkouts/:id/close',
      role: 'analyst',
      handle: async (call, ctx) => {
        readParams(call.req, []);
        const c = await call.store().checkouts.close(readId(call.req.params.id as string, 'checkout id'), ctx.now() * 1000);
        call.rows = 1;
        return c;
      },
    },
  ];
}
