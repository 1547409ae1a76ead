import { DECISIONS } from '../storage/eventRecord.js';
import type { EventFilter } from '../storage/sqlite/queries/eventQuery.js';
import { InputError } from '../errors.js';
import { parseCidr } from '../cidr.js';
import { parseTimeBound } from './timeBound.js';

/**
 * The filters of who-did-what queries, by the names the HTTP API uses for its query
 * parameters; the CLI's flags are the same in kebab case (`--source-ip`).
 */
export const ACTION_FILTER_PARAMS = [
  'cluster', 'user', 'actor', 'effectiveUser', 'person', 'credential', 'verb', 'apiGroup', 'resource', 'subresource',
  'namespace', 'name', 'decision', 'code', 'sourceIP', 'userAgent', 'finding', 'q', 'since', 'until',
] as const;
export type ActionFilterParam = (typeof ACTION_FILTER_PARAMS)[number];
export type ActionFilterParams = Partial<Record<ActionFilterParam, string>>;

/** The longest text a filter takes: longer is an error, not a slow query. */
export const MAX_PARAM_CHARS = 1024;

const CODE = /^(\d{3})(?:-(\d{3}))?$/;
const VERB = /^[A-Za-z]{1,64}$/;

/**
 * Validates filter parameters into an EventFilter; an InputError names the parameter (as
 * `label` spells it) and what was expected. `apiGroup` `core` (or empty) is the core group.
 */
export function parseActionFilter(params: ActionFilterParams, nowMs: number, label: (p: ActionFilterParam) => string = (p) => p): EventFilter {
  const filter: EventFilter = {};
  for (const p of ACTION_FILTER_PARAMS) {
    const v = params[p];
    if (v === undefined) continue;
    if (v.length > MAX_PARAM_CHARS) throw new InputError(`${label(p)}: longer than ${MAX_PARAM_CHARS} characters`);
    if (v === '' && p !== 'apiGroup' && p !== 'subresource') throw new InputError(`${label(p)}: must not be empty`);
  }
  const text = (['cluster', 'user', 'actor', 'effectiveUser', 'person', 'credential', 'resource', 'subresource', 'namespace', 'name', 'userAgent', 'finding', 'q'] as const);
  for (const p of text) if (params[p] !== undefined) (filter as Record<string, unknown>)[p] = params[p];
  if (params.apiGroup !== undefined) filter.apiGroup = params.apiGroup === 'core' ? '' : params.apiGroup;
  if (params.verb !== undefined) {
    if (!VERB.test(params.verb)) throw new InputError(`${label('verb')}: expected a verb such as get, list or delete, got '${params.verb}'`);
    filter.verb = params.verb;
  }
  if (params.decision !== undefined) {
    if (!(DECISIONS as readonly string[]).includes(params.decision)) throw new InputError(`${label('decision')}: expected one of ${DECISIONS.join(', ')}, got '${params.decision}'`);
    filter.decision = params.decision as EventFilter['decision'];
  }
  if (params.code !== undefined) {
    const m = CODE.exec(params.code);
    const min = Number(m?.[1]);
    const max = m?.[2] === undefined ? min : Number(m[2]);
    if (!m || min < 100 || max > 599 || min > max) throw new InputError(`${label('code')}: expected an HTTP status such as 403, or a range such as 400-499, got '${params.code}'`);
    filter.code = { min, max };
  }
  if (params.sourceIP !== undefined) filter.sourceCidr = parseCidr(params.sourceIP, label('sourceIP'));
  if (params.since !== undefined) filter.since = parseTimeBound(params.since, label('since'), nowMs);
  if (params.until !== undefined) filter.until = parseTimeBound(params.until, label('until'), nowMs);
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new InputError(`${label('since')} must be before ${label('until')}`);
  }
  return filter;
}
