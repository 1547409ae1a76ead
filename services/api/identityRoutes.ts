import { formatMicroTime } from '../../shared/audit/time.js';
import { collect } from '../../shared/rows.js';
import { InputError, NotFoundError } from '../../shared/errors.js';
import { IDENTITY_COLUMNS, TIMELINE_BUCKETS, type IdentityRow } from '../../shared/storage/sqlite/queries/identityQuery.js';
import type { Route } from './apiRouter.js';
import { PAGING_PARAMS, readParams, readRange } from './params.js';
import { sendRows } from './respond.js';

type IdentityPosition = [identity: string, person: string];
const isPosition = (p: unknown): p is IdentityPosition => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string');
const positionOf = (r: IdentityRow): IdentityPosition => [r.identity, r.person ?? ''];
const compare = (a: IdentityPosition, b: IdentityPosition) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

export function identityRoutes(): Route[] {
  return [
    {
      method: 'get',
      path: '/identities',
      role: 'viewer',
      // Identities are few (one per person, service account, node…): sorted by identity, so
      // that pages stay put while their counts grow.
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'until', ...PAGING_PARAMS]);
        const list = call.list(params, isPosition);
        const after = list.after;
        const dir = list.order === 'asc' ? 1 : -1;
        const all = (await collect(call.store().identities.list(readRange(params, ctx.now())))).sort((a, b) => dir * compare(positionOf(a), positionOf(b)));
        const rows = after === null ? all : all.filter((r) => dir * compare(positionOf(r), after) > 0);
        call.rows = await sendRows(call.res, rows, list, IDENTITY_COLUMNS, (last) => list.cursorAt(positionOf(last)));
      },
    },
    {
      method: 'get',
      path: '/identities/:id',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'until']);
        const id = call.req.params.id as string;
        const rows = await collect(ctx.store.identities.list({ ...readRange(params, ctx.now()), identity: id }));
        if (rows.length === 0) throw new NotFoundError(`no identity '${id}' acted${params.since || params.until ? ' in that window' : ''}`);
        call.rows = rows.length;
        // A shared account used by several people is one row per person.
        return { identity: id, kind: rows[0]!.kind, people: rows };
      },
    },
    {
      method: 'get',
      path: '/identities/:id/timeline',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['bucket', 'since', 'until']);
        const bucket = params.bucket ?? 'hour';
        if (!(bucket in TIMELINE_BUCKETS)) throw new InputError(`bucket: expected hour or day, got '${bucket}'`);
        const id = call.req.params.id as string;
        const range = readRange(params, ctx.now());
        const items = await ctx.store.identities.timeline(id, bucket as keyof typeof TIMELINE_BUCKETS, range);
        call.rows = items.length;
        // The range asked for, so that a chart's axis is the range and not the data's (one bucket is not a year).
        return { identity: id, bucket, since: range.since === undefined ? null : formatMicroTime(range.since), until: formatMicroTime(range.until ?? ctx.now() * 1000), items };
      },
    },
  ];
}
