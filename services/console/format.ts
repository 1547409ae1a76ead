/** How values read in the console: times in UTC as the API gives them, counts with separators. */

export const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z') : '—');
export const count = (n: number): string => n.toLocaleString('en-US');

/** The object an action touched, as kubectl names it: secrets/db-password, pods/web-1/exec. */
export function objectName(a: { apiGroup: string; resource: string; subresource: string; name: string }): string {
  if (!a.resource) return '';
  const res = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return [res, a.name, a.subresource].filter(Boolean).join('/');
}

/** An alert's identity field as text: the value its requests share, or their distinct values. */
export const identityText = (v: string | null | (string | null)[]): string => (Array.isArray(v) ? v.map((x) => x ?? '-').join(', ') : v ?? '');
