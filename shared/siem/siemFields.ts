import type { ActionRow } from '../audit/actionRow.js';
import { RULES } from '../detect/rules.js';
import type { AlertRow } from '../storage/sqlite/queries/alertQuery.js';

/** What the SIEM mappings read of an alert. */
export type AlertLike = AlertRow;

/** The SIEM schemas actions and alerts are written in (`events --output`, `format=`, sinks' `schema`). */
export const SIEM_SCHEMAS = ['ocsf', 'ecs'] as const;
export type SiemSchema = (typeof SIEM_SCHEMAS)[number];

/** `pods/exec web-1 in shop`, or the request's path when it is not about an object. */
export function actionTarget(r: ActionRow): string {
  if (!r.resource) return requestPath(r.requestURI).path;
  return `${r.resource}${r.subresource ? `/${r.subresource}` : ''}${r.name ? ` ${r.name}` : ''}${r.namespace ? ` in ${r.namespace}` : ''}`;
}

export function requestPath(uri: string): { path: string; query: string | null } {
  const q = uri.indexOf('?');
  return q < 0 ? { path: uri, query: null } : { path: uri.slice(0, q), query: uri.slice(q + 1) };
}

/** The HTTP method of a verb (the audit Event records the verb only). */
export function httpMethod(verb: string): string | null {
  return { create: 'POST', get: 'GET', list: 'GET', watch: 'GET', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETE' }[verb] ?? null;
}

/** The credential id of `client-certificate X509SHA256=…`, or null. */
export function credentialId(credential: string | null): string | null {
  const space = credential?.indexOf(' ') ?? -1;
  return space < 0 ? null : credential!.slice(space + 1);
}

/** The value an alert's requests share, or the first of their values. */
export function firstValue(v: string | null | (string | null)[]): string | null {
  return Array.isArray(v) ? (v.find((x) => x !== null && x !== '…') ?? null) : v;
}

const TITLES = new Map<string, string>([
  ...RULES.map((r): [string, string] => [r.id, r.title]),
  ['attributed-break-glass', 'Break-glass account used within a checkout'],
  ['unattributed-break-glass', 'Break-glass account used outside any checkout'],
]);

/** The rule's title for a SIEM; a Sigma rule's alert message starts with its rule's title. */
export function alertTitle(a: Pick<AlertRow, 'rule' | 'message'>): string {
  const title = TITLES.get(a.rule);
  if (title) return title;
  const colon = a.message.indexOf(': ');
  return a.rule.startsWith('sigma:') && colon > 0 ? a.message.slice(0, colon) : a.rule;
}
