import { useState } from 'preact/hooks';
import { ActionTable, ErrorNote, Field, PageTitle, usePages } from '../components.js';
import { go, type Route } from '../route.js';
import type { Action } from '../types.js';

const KEYS = ['cluster', 'apiGroup', 'resource', 'namespace', 'name', 'since', 'until'] as const;

/** Every action on one object, newest first: who read the Secret, who changed the Deployment. */
export function HistoryPage({ route }: { route: Route }) {
  const given = Object.fromEntries(KEYS.map((k) => [k, route.params[k] ?? '']));
  const [form, setForm] = useState(given);
  const ready = Boolean(given.resource && given.name);
  const params = Object.fromEntries(Object.entries(given).filter(([, v]) => v)) as Record<string, string>;
  const key = JSON.stringify(params);
  const results = usePages<Action>(ready ? '/history' : '', { ...params, limit: '50' }, [key, ready]);

  const submit = (e: Event) => {
    e.preventDefault();
    go('history', [], Object.fromEntries(Object.entries(form).filter(([, v]) => v.trim()).map(([k, v]) => [k, v.trim()])));
  };
  const input = (k: (typeof KEYS)[number], label: string, hint?: string, required = false) => (
    <Field label={label} hint={hint}>
      <input name={k} required={required} value={form[k]} onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })} />
    </Field>
  );
  const object = `${given.resource}${given.apiGroup && given.apiGroup !== 'core' ? `.${given.apiGroup}` : ''}/${given.name}${given.namespace ? ` in ${given.namespace}` : ''}`;

  return (
    <section>
      <PageTitle sub="Every action on one object, newest first.">Resource history</PageTitle>
      <form class="filter-form" onSubmit={submit} aria-label="Object">
        {input('resource', 'Resource', 'secrets, deployments…', true)}
        {input('name', 'Name', undefined, true)}
        {input('namespace', 'Namespace', 'empty for cluster-scoped')}
        {input('apiGroup', 'API group', "'core' (default), apps…")}
        {input('cluster', 'Cluster')}
        {input('since', 'Since', '30d, or a time: 2025-11-02T10:00:00Z')}
        {input('until', 'Until', 'empty: now; or a time')}
        <button type="submit">Show history</button>
      </form>
      {!ready ? (
        <p class="muted">Name an object, or open one from a search result.</p>
      ) : results.error ? (
        <ErrorNote error={results.error} />
      ) : results.loading && results.items.length === 0 ? (
        <p role="status">Loading…</p>
      ) : (
        <ActionTable rows={results.items} caption={`Actions on ${object}`} more={results} />
      )}
    </section>
  );
}
