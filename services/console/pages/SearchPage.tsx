import { useState } from 'preact/hooks';
import { api, type Session } from '../api.js';
import { ActionTable, ErrorNote, Field, PageTitle, usePages } from '../components.js';
import { go, type Route } from '../route.js';
import type { Action } from '../types.js';

/** The filters of GET /events, with what each means. */
export const FILTERS: { key: string; label: string; hint: string }[] = [
  { key: 'user', label: 'User', hint: 'username that acted or was impersonated, e.g. alice' },
  { key: 'actor', label: 'Actor', hint: 'identity: username or EKS caller ARN' },
  { key: 'person', label: 'Person', hint: 'the person behind an identity or break-glass checkout' },
  { key: 'effectiveUser', label: 'Effective user', hint: 'whose permissions were used (impersonation)' },
  { key: 'verb', label: 'Verb', hint: 'get, list, create, delete…' },
  { key: 'resource', label: 'Resource', hint: 'secrets, pods…' },
  { key: 'subresource', label: 'Subresource', hint: 'exec, log…' },
  { key: 'apiGroup', label: 'API group', hint: "'core' for the core group" },
  { key: 'namespace', label: 'Namespace', hint: '' },
  { key: 'name', label: 'Object name', hint: '' },
  { key: 'decision', label: 'Decision', hint: 'allow, forbid or unknown' },
  { key: 'code', label: 'Response code', hint: '403, or a range 400-499' },
  { key: 'sourceIP', label: 'Source IP', hint: 'an address or CIDR, 10.0.0.0/8' },
  { key: 'userAgent', label: 'User agent', hint: 'text in it' },
  { key: 'finding', label: 'Finding', hint: 'secret-read, system-masters-use…' },
  { key: 'credential', label: 'Credential', hint: 'X509SHA256=… or JTI=…' },
  { key: 'cluster', label: 'Cluster', hint: '' },
  { key: 'q', label: 'Text in URI', hint: '' },
  { key: 'since', label: 'Since', hint: '24h, 7d, or a time' },
  { key: 'until', label: 'Until', hint: '1h, or a time' },
];
const labelOf = (key: string) => FILTERS.find((f) => f.key === key)?.label ?? key;

export function SearchPage({ route, session }: { route: Route; session: Session }) {
  const filters = Object.fromEntries(Object.entries(route.params).filter(([k]) => FILTERS.some((f) => f.key === k)));
  const key = JSON.stringify(filters);
  const results = usePages<Action>('/events', { ...filters, limit: '50' }, [key]);
  const [field, setField] = useState('user');
  const [value, setValue] = useState('');
  const [exportError, setExportError] = useState<string | null>(null);

  const set = (next: Record<string, string>) => go('search', [], next);
  const add = (e: Event) => {
    e.preventDefault();
    if (value.trim()) set({ ...filters, [field]: value.trim() });
    setValue('');
  };
  const remove = (k: string) => {
    const { [k]: _gone, ...rest } = filters;
    set(rest);
  };
  const exportAs = (format: 'csv' | 'ndjson') => {
    setExportError(null);
    api.download('/events', filters, format, `kubetrail-events.${format === 'csv' ? 'csv' : 'ndjson'}`).catch((err: Error) => setExportError(err.message));
  };
  const chosen = FILTERS.find((f) => f.key === field)!;

  return (
    <section>
      <PageTitle sub="Who did what: every action once, from its most complete stage, newest first.">Search</PageTitle>
      <form class="filter-form" onSubmit={add} aria-label="Add a filter">
        <Field label="Filter">
          <select value={field} onChange={(e) => setField(e.currentTarget.value)}>
            {FILTERS.map((f) => (
              <option key={f.key} value={f.key}>
                {f.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Value" hint={chosen.hint}>
          <input name="value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </Field>
        <button type="submit">Add filter</button>
      </form>
      <ul class="chips" aria-label="Active filters">
        {Object.entries(filters).map(([k, v]) => (
          <li key={k} class="chip">
            <span>
              {labelOf(k)}: <strong>{v}</strong>
            </span>
            <button type="button" aria-label={`Remove filter ${labelOf(k)} ${v}`} onClick={() => remove(k)}>
              ×
            </button>
          </li>
        ))}
        {Object.keys(filters).length === 0 && <li class="muted">No filters: all actions.</li>}
        {Object.keys(filters).length > 1 && (
          <li>
            <button type="button" class="link" onClick={() => set({})}>
              Clear all
            </button>
          </li>
        )}
      </ul>
      {session.exports && (
        <div class="toolbar">
          <span>Export this result:</span>
          <button type="button" onClick={() => exportAs('csv')}>CSV</button>
          <button type="button" onClick={() => exportAs('ndjson')}>NDJSON</button>
        </div>
      )}
      {exportError && <ErrorNote error={exportError} />}
      {results.error && <ErrorNote error={results.error} />}
      {results.loading && results.items.length === 0 ? (
        <p role="status">Searching…</p>
      ) : (
        <ActionTable
          rows={results.items}
          caption={`${results.items.length}${results.next ? '+' : ''} actions`}
          more={results}
        />
      )}
    </section>
  );
}
