import { InputError } from '../../shared/errors.js';
import { PERMISSION_COLUMNS, canAnswer, permissionRows, subjectUser, whoCanRows } from '../../shared/rbac/answers.js';
import { Authorizer } from '../../shared/rbac/authorizer.js';
import { effectivePermissions } from '../../shared/rbac/permissions.js';
import { describeTarget, recommendationText } from '../../shared/analysis/recommendationText.js';
import type { Target } from '../../shared/rbac/recommend.js';
import { impersonatedUser, parseServiceAccountName } from '../../shared/rbac/subjects.js';
import type { RbacState } from '../../shared/rbac/types.js';
import { blindSpotsOf, observedTargets, prepareRecommendations, recommendFor, usageReport, type WindowOptions } from '../../shared/analysis/usageWindow.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import type { QueryStore } from '../../shared/storage/port.js';
import type { ApiContext, Call, Route } from './apiRouter.js';
import { readId, readParams } from './params.js';

/** The RBAC a question is asked of: `snapshot` by id, else the newest of `cluster` (default: the configured one). */
async function stateOf(store: QueryStore, params: Record<string, string | undefined>, ctx: ApiContext): Promise<{ state: RbacState; origin: string; cluster: string }> {
  if (params.snapshot !== undefined) {
    const s = await store.snapshots.get(readId(params.snapshot, 'snapshot'));
    return { state: s.state, origin: `snapshot ${s.id} of ${s.cluster}`, cluster: s.cluster };
  }
  const cluster = params.cluster ?? ctx.config.cluster;
  const s = await store.snapshots.latest(cluster);
  if (!s) throw new InputError(`no RBAC snapshot of cluster '${cluster}': load one with kubetrail rbac load, or name another with cluster= or snapshot=`);
  return { state: s.state, origin: `snapshot ${s.id} of ${s.cluster}`, cluster };
}

const groupsOf = (text: string | undefined) => (text === undefined ? [] : text.split(',').map((g) => g.trim()).filter(Boolean));

function required(params: Record<string, string | undefined>, ...names: string[]): void {
  for (const n of names) if (!params[n]) throw new InputError(`${n}: required`);
}

function windowOf(params: Record<string, string | undefined>, ctx: ApiContext, cluster: string): WindowOptions {
  const now = ctx.now();
  const since = parseTimeBound(params.since ?? '30d', 'since', now);
  const until = params.until === undefined ? now * 1000 : parseTimeBound(params.until, 'until', now);
  if (since >= until) throw new InputError('since must be before until');
  return { cluster, since, until, minDays: ctx.config.rbac.minWindowDays, ...(params.namespace !== undefined ? { namespace: params.namespace } : {}) };
}

function rowsAnswer(call: Call, items: unknown[]) {
  call.rows = items.length;
  return { items, nextCursor: null };
}

const STATE_PARAMS = ['snapshot', 'cluster'];

export function rbacRoutes(): Route[] {
  return [
    {
      method: 'get',
      path: '/rbac/snapshots',
      role: 'admin',
      handle: async (call) => {
        const params = readParams(call.req, ['cluster']);
        return rowsAnswer(call, (await call.store().snapshots.list(params.cluster)).map((s) => ({ id: s.id, cluster: s.cluster, takenAt: new Date(s.takenAt / 1000).toISOString(), source: s.source, ...s.summary, problems: s.summary.problems.length })));
      },
    },
    {
      method: 'get',
      path: '/rbac/can',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['verb', 'resource', 'subresource', 'namespace', 'user', 'groups', ...STATE_PARAMS]);
        required(params, 'verb', 'resource', 'user');
        const { state, origin } = (await stateOf(call.store(), params, ctx));
        call.rows = 1;
        return canAnswer(state, params.verb!, params.resource!, params, impersonatedUser(params.user!, groupsOf(params.groups)), origin);
      },
    },
    {
      method: 'get',
      path: '/rbac/who-can',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['verb', 'resource', 'subresource', 'namespace', ...STATE_PARAMS]);
        required(params, 'verb', 'resource');
        return rowsAnswer(call, whoCanRows((await stateOf(call.store(), params, ctx)).state, params.verb!, params.resource!, params));
      },
    },
    {
      method: 'get',
      path: '/rbac/permissions',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['user', 'groups', 'serviceaccount', 'namespace', ...STATE_PARAMS]);
        const user = subjectUser({ user: params.user, group: groupsOf(params.groups), serviceaccount: params.serviceaccount });
        const perms = effectivePermissions(new Authorizer((await stateOf(call.store(), params, ctx)).state), user, params.namespace === undefined ? 'all' : [params.namespace]);
        const rows = permissionRows(perms);
        call.rows = rows.length;
        return { user: perms.user, bypassesRbac: perms.bypass, columns: PERMISSION_COLUMNS, items: rows };
      },
    },
    {
      method: 'get',
      path: '/rbac/report',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'until', 'subject', 'namespace', ...STATE_PARAMS]);
        const cluster = params.cluster ?? ctx.config.cluster;
        const report = await usageReport(call.store(), { kind: 'snapshot', ...(params.snapshot ? { id: readId(params.snapshot, 'snapshot') } : {}) }, {
          ...windowOf(params, ctx, cluster),
          ...(params.subject ? { subjects: groupsOf(params.subject) } : {}),
        });
        call.rows = report.subjects.length;
        return report;
      },
    },
    {
      method: 'get',
      path: '/rbac/recommend',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['user', 'serviceaccount', 'group', 'all', 'since', 'until', 'namespace', 'includeDenied', ...STATE_PARAMS]);
        const given = ['user', 'serviceaccount', 'group', 'all'].filter((k) => params[k] !== undefined);
        if (given.length !== 1) throw new InputError('give exactly one of user, serviceaccount, group or all=true');
        for (const flag of ['all', 'includeDenied']) {
          if (params[flag] !== undefined && params[flag] !== 'true' && params[flag] !== 'false') throw new InputError(`${flag}: expected true or false`);
        }
        const store = call.store();
        const cluster = params.cluster ?? ctx.config.cluster;
        const window = windowOf(params, ctx, cluster);
        const snapshotKnown = params.snapshot !== undefined || (await store.snapshots.has(cluster));
        const prepared = await prepareRecommendations(store, snapshotKnown ? { kind: 'snapshot', ...(params.snapshot ? { id: readId(params.snapshot, 'snapshot') } : {}) } : null, window);
        let targets: Target[];
        if (params.all === 'true') targets = observedTargets(prepared, params.includeDenied === 'true');
        else if (params.user !== undefined) {
          const sa = parseServiceAccountName(params.user);
          targets = [sa ? { kind: 'ServiceAccount', ...sa } : { kind: 'User', name: params.user }];
        } else if (params.group !== undefined) targets = [{ kind: 'Group', name: params.group }];
        else {
          const sa = params.serviceaccount ? parseServiceAccountName(`system:serviceaccount:${params.serviceaccount}`) : null;
          if (!sa) throw new InputError(`serviceaccount: expected NAMESPACE:NAME, got '${params.serviceaccount ?? ''}'`);
          targets = [{ kind: 'ServiceAccount', ...sa }];
        }
        const includeDenied = params.includeDenied === 'true';
        const blindSpots = await blindSpotsOf(store, window, 'rbac recommend');
        const items = targets.map((t) => {
          const r = recommendFor(prepared, t, { expandVerbs: true, expandMultiNamespace: true, expandMultiName: true, includeDenied });
          return { target: describeTarget(t), regressions: r.dryRun?.regressionCount ?? 0, yaml: recommendationText(r, window, includeDenied, blindSpots) };
        });
        call.rows = items.length;
        return { items, nextCursor: null };
      },
    },
  ];
}
