import { useState } from 'preact/hooks';
import { api, can, type Page, type Session } from '../api.js';
import { ActionTable, ErrorNote, Field, Identities, Loaded, PageTitle, Table, useAsync, usePages } from '../components.js';
import { identityText, when } from '../format.js';
import type { Route } from '../route.js';
import type { Action, Alert, Checkout } from '../types.js';

const EMPTY = { account: '', person: '', approvedBy: '', reason: '', ticket: '', for: '2h' };
type Draft = typeof EMPTY;

/** Break-glass: check a shared admin account out to a person, see the sessions, and the uses nobody checked out (red). */
export function BreakglassPage({ route, session }: { route: Route; session: Session }) {
  const [tick, setTick] = useState(0);
  const checkouts = useAsync(() => api.get<Page<Checkout>>('/breakglass/checkouts'), [tick]);
  // Break-glass use is stored as one of two alerts: inside a checkout (attributed) or outside any.
  const uses = useAsync(async () => {
    const pages = await Promise.all(['unattributed-break-glass', 'attributed-break-glass'].map((rule) => api.get<Page<Alert>>('/alerts', { rule, limit: '200' })));
    return pages.flatMap((p) => p.items).sort((a, b) => b.time.localeCompare(a.time));
  }, [tick]);
  const [open, setOpen] = useState<number | null>(route.params.checkout ? Number(route.params.checkout) : null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const c = await api.post<Checkout>('/breakglass/checkouts', draft);
      setDone(`Checkout #${c.id}: ${c.account} is ${c.person}'s until ${when(c.until)}.`);
      setDraft(EMPTY);
      setTick((t) => t + 1);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const close = async (c: Checkout) => {
    setError(null);
    try {
      await api.post<Checkout>(`/breakglass/checkouts/${c.id}/close`);
      setDone(`Checkout #${c.id} closed.`);
      setTick((t) => t + 1);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const input = (k: keyof Draft, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      <input name={k} required value={draft[k]} onInput={(e) => setDraft({ ...draft, [k]: e.currentTarget.value })} />
    </Field>
  );
  const now = Date.now();

  return (
    <section>
      <PageTitle sub="A shared admin account's actions belong to the person who checked it out; uses outside any checkout are unattributed.">Break-glass</PageTitle>

      <h2>Uses of break-glass accounts</h2>
      <Loaded state={uses} what="break-glass uses">
        {(items) =>
          items.length === 0 ? (
            <p class="empty">No break-glass account was used.</p>
          ) : (
            <Table caption="Uses, newest first; unattributed ones in red" columns={['When (UTC)', 'Account', 'Attributed to', 'What', 'Alert']}>
              {items.map((a) => (
                <tr key={a.id} class={a.rule === 'unattributed-break-glass' ? 'unattributed' : undefined}>
                  <td class="nowrap">{when(a.time)}</td>
                  <td>
                    <Identities values={a.actor} />
                  </td>
                  <td>{a.rule === 'unattributed-break-glass' ? <strong>nobody: no checkout</strong> : identityText(a.person)}</td>
                  <td class="break">{a.message}</td>
                  <td>
                    #{a.id} {a.status}
                  </td>
                </tr>
              ))}
            </Table>
          )
        }
      </Loaded>

      {can(session, 'POST /breakglass/checkouts') && (
        <>
          <h2>Open a checkout</h2>
          <form class="filter-form" onSubmit={submit} aria-label="Open a checkout">
            {input('account', 'Account', 'kubernetes-admin…')}
            {input('person', 'Person')}
            {input('approvedBy', 'Approved by', 'someone else')}
            {input('reason', 'Reason')}
            {input('ticket', 'Ticket')}
            {input('for', 'For', '2h, 30m')}
            <button type="submit">Open checkout</button>
          </form>
        </>
      )}
      <p role="status" class="done">{done}</p>
      {error && <ErrorNote error={error} />}

      <h2>Checkouts</h2>
      <Loaded state={checkouts} what="checkouts">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty">No checkouts yet.</p>
          ) : (
            <Table caption="Checkouts, newest first" columns={['#', 'Account', 'Person', 'Approved by', 'Reason · ticket', 'Window (UTC)', 'State', 'Session']}>
              {page.items.flatMap((c) => {
                const end = c.closed ?? c.until;
                const active = Date.parse(c.from) <= now && now < Date.parse(end);
                return [
                  <tr key={c.id}>
                    <td>{c.id}</td>
                    <td>{c.account}</td>
                    <td>{c.person}</td>
                    <td>{c.approvedBy}</td>
                    <td class="break">
                      {c.reason} · {c.ticket}
                    </td>
                    <td class="nowrap">
                      {when(c.from)}
                      <div>to {when(end)}</div>
                    </td>
                    <td>{c.closed ? 'closed' : active ? <span class="badge warn">active</span> : Date.parse(c.from) > now ? 'scheduled' : 'expired'}</td>
                    <td class="nowrap">
                      <button type="button" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>
                        {open === c.id ? 'Hide actions' : 'Actions'}
                        <span class="visually-hidden"> of checkout {c.id}</span>
                      </button>
                      {!c.closed && active && can(session, 'POST /breakglass/checkouts/:id/close') && (
                        <button type="button" onClick={() => close(c)}>
                          Close<span class="visually-hidden"> checkout {c.id}</span>
                        </button>
                      )}
                    </td>
                  </tr>,
                  open === c.id && (
                    <tr key={`${c.id}-actions`} class="raw-row">
                      <td colSpan={8}>
                        <SessionActions checkout={c} />
                      </td>
                    </tr>
                  ),
                ];
              })}
            </Table>
          )
        }
      </Loaded>
    </section>
  );
}

function SessionActions({ checkout: c }: { checkout: Checkout }) {
  const list = usePages<Action>('/events', { actor: c.account, since: c.from, until: c.closed ?? c.until, limit: '50' }, [c.id]);
  if (list.error) return <ErrorNote error={list.error} />;
  return <ActionTable rows={list.items} caption={`Actions of ${c.account} during checkout #${c.id} (${c.person})`} more={list} />;
}
