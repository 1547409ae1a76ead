import { existsSync } from 'node:fs';
import { ACTION_COLUMNS, eventToActionRow, type ActionRow } from '../../shared/audit/actionRow.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { queryActions, type EventFilter } from '../../shared/storage/eventQuery.js';
import { openStore, type Store } from '../../shared/storage/openStore.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { writeRows, type OutputFormat } from './output.js';

export interface EventsFlags {
  user?: string;
  actor?: string;
  effectiveUser?: string;
  person?: string;
  credential?: string;
  verb?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  since?: string;
  until?: string;
  decision?: 'allow' | 'forbid' | 'unknown';
  cluster?: string;
  limit: string;
  output: OutputFormat;
}

/** `kubetrail events`: who did what, from the store. */
export async function eventsCommand(config: Readonly<Config>, flags: EventsFlags): Promise<void> {
  const filter = flagsToFilter(flags);
  const store = openExistingStore(config);
  try {
    const rows = mapIter(queryActions(store.db, filter), (s): ActionRow => eventToActionRow(s.event, s.cluster, s.actor));
    await writeRows(process.stdout, rows, ACTION_COLUMNS, flags.output);
  } finally {
    store.close();
  }
}

/** The store, read-only; an InputError when there is none yet. */
export function openExistingStore(config: Readonly<Config>): Store {
  if (!existsSync(config.database.path)) {
    throw new InputError(`${config.database.path}: no database yet; store events with kubetrail ingest or kubetrail serve`);
  }
  return openStore(config.database.path, { readonly: true });
}

/** The query filter the flags describe; throws InputError naming the flag. */
export function flagsToFilter(flags: EventsFlags, nowMs = Date.now()): EventFilter {
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new InputError(`--limit: expected a whole number (0 = all), got '${flags.limit}'`);
  const filter: EventFilter = { limit, order: 'desc' };
  if (flags.user !== undefined) filter.user = flags.user;
  if (flags.actor !== undefined) filter.actor = flags.actor;
  if (flags.effectiveUser !== undefined) filter.effectiveUser = flags.effectiveUser;
  if (flags.person !== undefined) filter.person = flags.person;
  if (flags.credential !== undefined) filter.credential = flags.credential;
  if (flags.verb !== undefined) filter.verb = flags.verb;
  if (flags.resource !== undefined) Object.assign(filter, parseResourceFlag(flags.resource));
  if (flags.namespace !== undefined) filter.namespace = flags.namespace;
  if (flags.name !== undefined) filter.name = flags.name;
  if (flags.decision !== undefined) filter.decision = flags.decision;
  if (flags.cluster !== undefined) filter.cluster = flags.cluster;
  if (flags.since !== undefined) filter.since = parseTimeBound(flags.since, '--since', nowMs);
  if (flags.until !== undefined) filter.until = parseTimeBound(flags.until, '--until', nowMs);
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new InputError('--since must be before --until');
  }
  return filter;
}

/**
 * `RESOURCE[.GROUP][/SUBRESOURCE]`: `pods` (any group, with or without subresource),
 * `deployments.apps`, `pods/exec`, `pods/` (the resource itself, no subresource).
 */
export function parseResourceFlag(text: string): Pick<EventFilter, 'resource' | 'apiGroup' | 'subresource'> {
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?(?:\/([a-z0-9-]*))?$/.exec(text);
  if (!m) throw new InputError(`--resource: expected RESOURCE[.GROUP][/SUBRESOURCE] such as pods, deployments.apps or pods/exec, got '${text}'`);
  const out: Pick<EventFilter, 'resource' | 'apiGroup' | 'subresource'> = { resource: m[1]! };
  if (m[2] !== undefined) out.apiGroup = m[2];
  if (m[3] !== undefined) out.subresource = m[3];
  return out;
}

function* mapIter<T, U>(it: Iterable<T>, f: (t: T) => U): Iterable<U> {
  for (const t of it) yield f(t);
}
