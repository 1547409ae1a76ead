import { ACTION_DOCUMENTS } from '../../shared/siem/siemDocuments.js';
import { ACTION_COLUMNS, eventToActionRow, type ActionRow } from '../../shared/audit/actionRow.js';
import { roleAtLeast } from '../../shared/access.js';
import { InputError, NotFoundError } from '../../shared/errors.js';
import { ACTION_FILTER_PARAMS, parseActionFilter, type ActionFilterParams } from '../../shared/query/actionFilter.js';
import type { ActionPosition, EventFilter } from '../../shared/storage/sqlite/queries/eventQuery.js';
import type { Call, Route } from './apiRouter.js';
import { PAGING_PARAMS, readParams, readRange } from './params.js';
import { sendRows } from './respond.js';

/** An action row with where it stands, for the next page's cursor. */
type PositionedRow = ActionRow & { [POSITION]?: ActionPosition };
const POSITION = Symbol('position');

/** A cursor's position: [receivedAt, auditKey (hex when stored as bytes), bytes?, clusterId]. */
type CursorPosition = [number, string, 0 | 1, number];

function isPosition(p: unknown): p is CursorPosition {
  return Array.isArray(p) && p.length === 4 && Number.isSafeInteger(p[0]) && typeof p[1] === 'string' && (p[2] === 0 || p[2] === 1) && Number.isSafeInteger(p[3]) && (p[2] === 0 || /^[0-9a-f]{32}$/.test(p[1]));
}

const toCursorPosition = (p: ActionPosition): CursorPosition =>
  typeof p.auditKey === 'string' ? [p.receivedAt, p.auditKey, 0, p.clusterId] : [p.receivedAt, p.auditKey.toString('hex'), 1, p.clusterId];
const fromCursorPosition = (p: CursorPosition): ActionPosition => ({ receivedAt: p[0], auditKey: p[2] === 1 ? Buffer.from(p[1], 'hex') : p[1], clusterId: p[3] });

/** Runs an action query as a page or a stream. */
async function listActions(call: Call, params: Record<string, string | undefined>, filter: EventFilter): Promise<void> {
  const list = call.list(params, isPosition);
  if (list.after) filter.after = fromCursorPosition(list.after);
  filter.order = list.order;
  filter.limit = list.fetch;
  const store = call.store(list);
  const rows = (async function* () {
    for await (const s of store.events.actions(filter)) {
      const row: PositionedRow = eventToActionRow(s.event, s.cluster, s.actor, s.decision);
      row[POSITION] = s.position;
      yield row;
    }
  })();
  // Days of the range moved to archives: the answer says so instead of being silently short.
  const archived = await call.store().archives.days(filter.since, filter.until);
  if (archived.length > 0) call.res.set('X-Kubetrail-Archived-Days', archived.slice(0, 100).join(','));
  call.rows = await sendRows(call.res, rows, list, ACTION_COLUMNS, (last) => list.cursorAt(toCursorPosition(last[POSITION]!)), archived.length > 0 ? { archived } : {}, ACTION_DOCUMENTS);
}

export function eventRoutes(): Route[] {
  return [
    {
      method: 'get',
      path: '/events',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, [...ACTION_FILTER_PARAMS, ...PAGING_PARAMS]);
        await listActions(call, params, parseActionFilter(params as ActionFilterParams, ctx.now()));
      },
    },
    {
      method: 'get',
      path: '/history',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['cluster', 'apiGroup', 'resource', 'namespace', 'name', 'since', 'until', ...PAGING_PARAMS]);
        for (const p of ['resource', 'name'] as const) if (!params[p]) throw new InputError(`${p}: required (history is of one object: resource, name, and namespace unless it is cluster-scoped)`);
        const filter = parseActionFilter({ ...params, apiGroup: params.apiGroup ?? '' } as ActionFilterParams, ctx.now());
        // No namespace: a cluster-scoped object.
        filter.namespace ??= '';
        await listActions(call, params, filter);
      },
    },
    {
      method: 'get',
      path: '/events/:cluster/:auditID',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'until']);
        const { cluster, auditID } = call.req.params as { cluster: string; auditID: string };
        if (auditID.length > 256) throw new InputError('auditID: longer than 256 characters');
        const bodies = roleAtLeast(call.caller.role, 'analyst');
        const stages = await ctx.store.events.action(cluster, auditID, { bodies, ...readRange(params, ctx.now()) });
        if (stages.length === 0) throw new NotFoundError(`no action ${auditID} in cluster ${cluster}`);
        call.rows = stages.length;
        const last = stages.at(-1)!;
        return {
          ...eventToActionRow(last.event, last.cluster, last.actor, last.decision),
          // Bodies are the analyst's: a viewer sees that there was one, not what it said.
          bodiesShown: bodies,
          stages: stages.map((s) => (bodies || !s.hasBody ? s.event : { ...s.event, requestObject: undefined, responseObject: undefined })),
        };
      },
    },
  ];
}
