import { systemClock } from './clock.js';
import { ACTION_COLUMNS, eventToActionRow, type ActionRow } from '../../shared/audit/actionRow.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { parseActionFilter, type ActionFilterParam, type ActionFilterParams } from '../../shared/query/actionFilter.js';
import { mapRows } from '../../shared/rows.js';
import type { EventFilter } from '../../shared/storage/sqlite/queries/eventQuery.js';
import { usingStore } from './localStore.js';
import { ACTION_DOCUMENTS } from '../../shared/siem/siemDocuments.js';
import { writeRows, type RowOutput } from './output.js';
import { remoteRows, type Remote } from './remote.js';

/** The flags of `kubetrail events`: the API's filters in kebab case, with --resource also as RESOURCE[.GROUP][/SUBRESOURCE]. */
export interface EventsFlags {
  user?: string;
  actor?: string;
  effectiveUser?: string;
  person?: string;
  credential?: string;
  verb?: string;
  resource?: string;
  apiGroup?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  since?: string;
  until?: string;
  decision?: string;
  code?: string;
  sourceIp?: string;
  userAgent?: string;
  finding?: string;
  q?: string;
  cluster?: string;
  limit: string;
  output: RowOutput;
}

/** The CLI flag of an API filter: `sourceIP` is `--source-ip`. */
export const flagOf = (p: ActionFilterParam): string => `--${p === 'sourceIP' ? 'source-ip' : p.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The flags as the API's query parameters. */
export function flagsToParams(flags: EventsFlags): ActionFilterParams {
  const params: ActionFilterParams = {
    user: flags.user, actor: flags.actor, effectiveUser: flags.effectiveUser, person: flags.person, credential: flags.credential,
    verb: flags.verb, apiGroup: flags.apiGroup, subresource: flags.subresource, namespace: flags.namespace, name: flags.name,
    since: flags.since, until: flags.until, decision: flags.decision, code: flags.code, sourceIP: flags.sourceIp,
    userAgent: flags.userAgent, finding: flags.finding, q: flags.q, cluster: flags.cluster,
  };
  if (flags.resource !== undefined) {
    const r = parseResourceFlag(flags.resource);
    params.resource = r.resource;
    for (const k of ['apiGroup', 'subresource'] as const) {
      if (r[k] === undefined) continue;
      if (params[k] !== undefined && params[k] !== r[k]) throw new InputError(`--resource ${flags.resource} and ${flagOf(k)} ${params[k]} disagree`);
      params[k] = r[k]!;
    }
  }
  return params;
}

export function parseLimit(text: string): number {
  const limit = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(limit)) throw new InputError(`--limit: expected a whole number (0 = all), got '${text}'`);
  return limit;
}

/** `kubetrail events`: who did what, from the store or a kubetrail server. Returns the rows written. */
export async function eventsCommand(config: Readonly<Config>, flags: EventsFlags, remote: Remote | null): Promise<number> {
  const params = flagsToParams(flags);
  const limit = parseLimit(flags.limit);
  const filter = { ...parseActionFilter(params, systemClock(), flagOf), limit, order: 'desc' as const };
  return actionsCommand(config, remote, '/events', { ...params, ...(limit ? { limit: String(limit) } : {}) }, filter, flags.output);
}

/** `kubetrail history RESOURCE[.GROUP]/NAME [-n NS]`: every action on one object, newest first. */
export async function historyCommand(
  config: Readonly<Config>,
  target: string,
  flags: { namespace?: string; cluster?: string; since?: string; until?: string; limit: string; output: RowOutput },
  remote: Remote | null,
): Promise<number> {
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?\/(.+)$/.exec(target);
  if (!m) throw new InputError(`expected RESOURCE[.GROUP]/NAME such as secrets/db-password or deployments.apps/web, got '${target}'`);
  const params: ActionFilterParams = { resource: m[1]!, apiGroup: m[2] ?? '', name: m[3]!, namespace: flags.namespace, cluster: flags.cluster, since: flags.since, until: flags.until };
  const limit = parseLimit(flags.limit);
  const filter = { ...parseActionFilter(params, systemClock(), flagOf), limit, order: 'desc' as const };
  // No namespace: a cluster-scoped object.
  filter.namespace ??= '';
  return actionsCommand(config, remote, '/history', { ...params, ...(limit ? { limit: String(limit) } : {}) }, filter, flags.output);
}

async function actionsCommand(config: Readonly<Config>, remote: Remote | null, path: string, params: ActionFilterParams, filter: EventFilter, output: RowOutput): Promise<number> {
  if (remote) return writeRows(process.stdout, remoteRows<ActionRow>(remote, path, params), ACTION_COLUMNS, output, ACTION_DOCUMENTS);
  return usingStore(config, 'read', async (store) => {
    const rows = mapRows(store.events.actions(filter), (s): ActionRow => eventToActionRow(s.event, s.cluster, s.actor, s.decision));
    const n = await writeRows(process.stdout, rows, ACTION_COLUMNS, output, ACTION_DOCUMENTS);
    const archived = await store.archives.days(filter.since, filter.until);
    if (archived.length > 0) {
      process.stderr.write(`kubetrail: note: ${archived.length} day(s) of this range are archived and not in this answer (${archived.slice(0, 5).join(', ')}${archived.length > 5 ? ', …' : ''}); kubetrail archive restore DAY brings one back\n`);
    }
    return n;
  });
}

/**
 * `RESOURCE[.GROUP][/SUBRESOURCE]`: `pods` (any group, with or without subresource),
 * `deployments.apps`, `pods/exec`, `pods/` (the resource itself, no subresource).
 */
export function parseResourceFlag(text: string): Pick<EventFilter, 'resource' | 'subresource'> & { apiGroup?: string } {
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?(?:\/([a-z0-9-]*))?$/.exec(text);
  if (!m) throw new InputError(`--resource: expected RESOURCE[.GROUP][/SUBRESOURCE] such as pods, deployments.apps or pods/exec, got '${text}'`);
  const out: Pick<EventFilter, 'resource' | 'subresource'> & { apiGroup?: string } = { resource: m[1]! };
  if (m[2] !== undefined) out.apiGroup = m[2];
  if (m[3] !== undefined) out.subresource = m[3];
  return out;
}
