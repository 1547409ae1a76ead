import { useState } from 'preact/hooks';
import { api, can, type Session } from '../api.js';
import { ErrorNote, Field, Identities, PageTitle, Table, usePages } from '../components.js';
import { count, identityText, when } from '../format.js';
import { go, href, type Route } from '../route.js';
import type { Alert } from '../types.js';

const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const STATUSES = ['open', 'acknowledged', 'resolved'];

/** The alerts inbox: filter, acknowledge, resolve; who did it and when is recorded by the API. */
export function AlertsPage({ route, session }: { route: Route; session: Session }) {
  const filter = { status: route.params.status ?? 'open', severity: route.params.severity ?? '', rule: route.params.rule ?? '' };
  const key = JSON.stringify(filter);
  const [tick, setTick] = useState(0);
  const list = usePages<Alert>('/alerts', { status: filter.status === 'all' ? undefined : filter.status, severity: filter.severity || undefined, rule: filter.rule || undefined, limit: '100' }, [key, tick]);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rule, setRule] = useState(filter.rule);

  const set = (k: string, v: string) => go('alerts', [], { ...filter, [k]: v });
  const act = async (a: Alert, action: 'ack' | 'resolve') => {
    setError(null);
    try {
      const updated = await api.post<Alert>(`/alerts/${a.id}/${action}`);
      setDone(`Alert #${a.id} ${updated.status} by ${action === 'ack' ? updated.ackedBy : updated.resolvedBy}.`);
      setTick((t) => t + 1);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section>
      <PageTitle sub="Raised at ingest by kubetrail's detections; each names the PCI DSS requirements it serves.">Alerts</PageTitle>
      <form class="filter-form" aria-label="Filter alerts" onSubmit={(e) => (e.preventDefault(), set('rule', rule.trim()))}>
        <Field label="Status">
          <select value={filter.status} onChange={(e) => set('status', e.currentTarget.value)}>
            {[...STATUSES, 'all'].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Severity at least">
          <select value={filter.severity} onChange={(e) => set('severity', e.currentTarget.value)}>
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Rule" hint="secret-read, unattributed-break-glass…">
          <input name="rule" value={rule} onInput={(e) => setRule(e.currentTarget.value)} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <p role="status" class="done">{done}</p>
      {error && <ErrorNote error={error} />}
      {list.error && <ErrorNote error={list.error} />}
      {list.loading && list.items.length === 0 ? (
        <p role="status">Loading…</p>
      ) : list.items.length === 0 ? (
        <p class="empty">No {filter.status === 'all' ? '' : filter.status} alerts match.</p>
      ) : (
        <Table class="alerts stack" caption={<>{list.items.length} alerts</>} columns={['Severity', 'Rule', 'When (UTC)', 'Actor', 'What', 'PCI DSS', 'Status', 'Handle']} more={list}>
          {list.items.map((a) => (
            <tr key={a.id} class={`sev-${a.severity}`}>
              <td data-label="Severity">
                <span class={`badge sev ${a.severity}`}>{a.severity}</span>
              </td>
              <td class="break" data-label="Rule">{a.rule}</td>
              <td class="nowrap" data-label="When">
                {when(a.time)}
                {a.lastTime !== a.time && <div class="muted">to {when(a.lastTime)}</div>}
              </td>
              <td class="break" data-label="Actor">
                <Identities values={a.actor} />
                {a.person && <div class="muted">person: {identityText(a.person)}</div>}
              </td>
              <td class="break" data-label="What">
                {a.message}{' '}
                <a href={href('search', [], { finding: a.rule, actor: typeof a.actor === 'string' ? a.actor : undefined, cluster: a.cluster })}>
                  {count(a.count)} request{a.count === 1 ? '' : 's'}
                </a>
              </td>
              <td class="pci" data-label="PCI DSS">{a.pci.join(', ')}</td>
              <td data-label="Status">
                {a.status}
                {a.ackedBy && <div class="muted">ack {a.ackedBy} {when(a.ackedAt)}</div>}
                {a.resolvedBy && <div class="muted">resolved {a.resolvedBy} {when(a.resolvedAt)}</div>}
              </td>
              <td class="handle">
                {a.status === 'open' && can(session, 'POST /alerts/:id/ack') && (
                  <button type="button" onClick={() => act(a, 'ack')}>
                    Acknowledge<span class="visually-hidden"> alert {a.id}</span>
                  </button>
                )}
                {a.status !== 'resolved' && can(session, 'POST /alerts/:id/resolve') && (
                  <button type="button" onClick={() => act(a, 'resolve')}>
                    Resolve<span class="visually-hidden"> alert {a.id}</span>
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
