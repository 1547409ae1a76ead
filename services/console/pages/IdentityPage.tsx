import { useState } from 'preact/hooks';
import { api, can, type Page, type Session } from '../api.js';
import { ActionTable, ErrorNote, Field, Loaded, PageTitle, RangeControl, Table, TimelineChart, UsageBar, identityHref, useAsync, usePages } from '../components.js';
import { count, when } from '../format.js';
import { href, type Route } from '../route.js';
import type { Action, Checkout, Identity, IdentityDetail, Timeline, UsageReport } from '../types.js';

/** Every identity that acted, most active first. */
export function IdentitiesPage({ route }: { route: Route }) {
  const since = route.params.since ?? '';
  const until = route.params.until ?? '';
  const list = usePages<Identity>('/identities', { since: since || undefined, until: until || undefined, limit: '200', order: 'asc' }, [since, until]);
  const [lookup, setLookup] = useState('');
  const rows = [...list.items].sort((a, b) => b.actions - a.actions);
  return (
    <section>
      <PageTitle sub="Every identity that acted: people, service accounts, nodes, anonymous.">Identities</PageTitle>
      <form
        class="filter-form"
        aria-label="Open an identity"
        onSubmit={(e) => {
          e.preventDefault();
          if (lookup.trim()) location.hash = identityHref(lookup.trim());
        }}
      >
        <Field label="Identity" hint="username or EKS caller ARN">
          <input name="identity" value={lookup} onInput={(e) => setLookup(e.currentTarget.value)} />
        </Field>
        <button type="submit">Open</button>
      </form>
      <RangeControl page="identities" since={since} until={until} presets={['24h', '7d', '30d']} />
      {list.error && <ErrorNote error={list.error} />}
      {list.loading && rows.length === 0 ? (
        <p role="status">Loading…</p>
      ) : (
        <Table caption={<>{rows.length} identities</>} columns={['Identity', 'Kind', 'Person', 'Actions', 'Denied', 'Findings', 'Last seen (UTC)']} more={list}>
          {rows.map((r) => (
            <tr key={`${r.identity}/${r.person ?? ''}`}>
              <td class="break">
                {r.identity ? <a href={identityHref(r.identity)}>{r.identity}</a> : <span class="muted">no username (failed authentication)</span>}
              </td>
              <td>{r.kind}</td>
              <td>{r.person ?? '—'}</td>
              <td>{count(r.actions)}</td>
              <td>{count(r.denied)}</td>
              <td>{Object.keys(r.findings).join(', ') || '—'}</td>
              <td class="nowrap">{when(r.lastSeen)}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** Hours from `since` to `until` as the API takes them (a duration back from now, or a time); null when it cannot tell. */
function spanHours(since: string, until: string): number | null {
  const back = (t: string) => {
    const m = /^(\d+)([smhdw])$/.exec(t);
    if (m) return Date.now() - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[m[2] as 's']!;
    const at = Date.parse(t);
    return Number.isNaN(at) ? null : at;
  };
  const from = back(since);
  const to = until ? back(until) : Date.now();
  return from === null || to === null ? null : (to - from) / 36e5;
}

/** One identity: what it did over time, its credentials and findings, its checkouts, and what it was granted against what it used. */
export function IdentityPage({ route, session }: { route: Route; session: Session }) {
  const id = route.rest[0] ?? '';
  const since = route.params.since ?? '30d';
  const until = route.params.until ?? '';
  // Hourly up to a week, else daily.
  const bucket = (spanHours(since, until) ?? Infinity) <= 7 * 24 ? 'hour' : 'day';
  const detail = useAsync(() => api.get<IdentityDetail>(`/identities/${encodeURIComponent(id)}`), [id]);
  const timeline = useAsync(() => api.get<Timeline>(`/identities/${encodeURIComponent(id)}/timeline`, { bucket, since, until: until || undefined }), [id, since, until]);
  const recent = usePages<Action>('/events', { actor: id, limit: '20' }, [id]);

  return (
    <section>
      <PageTitle sub={<a href={href('identities')}>All identities</a>}>{id}</PageTitle>
      <Loaded state={detail} what="the identity">
        {(d) => <IdentitySummary detail={d} />}
      </Loaded>

      <h2>Activity</h2>
      <RangeControl page="identity" rest={[id]} since={since} until={until} presets={['24h', '7d', '30d', '365d']} />
      <Loaded state={timeline} what="the timeline">
        {(t) => (t.items.length === 0 ? <p class="empty">No activity in this range.</p> : <TimelineChart buckets={bucketsOf(t)} label={`Actions of ${id} per ${t.bucket}`} range={t} />)}
      </Loaded>

      {detail.data && can(session, 'GET /breakglass/checkouts') && <Checkouts detail={detail.data} />}
      {detail.data && can(session, 'GET /rbac/report') && <GrantedVsUsed detail={detail.data} />}

      <h2>Recent actions</h2>
      {recent.error ? <ErrorNote error={recent.error} /> : <ActionTable rows={recent.items} caption={`Latest actions of ${id}`} more={recent} />}
      <p>
        <a href={href('search', [], { actor: id })}>Search all actions of {id}</a>
      </p>
    </section>
  );
}

function bucketsOf(t: Timeline) {
  const by = new Map<number, { start: number; actions: number; denied: number }>();
  for (const i of t.items) {
    const start = Date.parse(i.start);
    const b = by.get(start) ?? { start, actions: 0, denied: 0 };
    b.actions += i.actions;
    if (i.decision === 'forbid') b.denied += i.actions;
    by.set(start, b);
  }
  return [...by.values()].sort((a, b) => a.start - b.start);
}

function IdentitySummary({ detail }: { detail: IdentityDetail }) {
  const findings = new Map<string, number>();
  for (const p of detail.people) for (const [rule, n] of Object.entries(p.findings)) findings.set(rule, (findings.get(rule) ?? 0) + n);
  const credentials = [...new Set(detail.people.flatMap((p) => p.credentialIds))];
  const kinds = [...new Set(detail.people.flatMap((p) => p.credentialKinds))];
  const used = detail.people.reduce((n, p) => n + p.credentialCount, 0);
  return (
    <div class="cards">
      <section class="card" aria-labelledby="who-h">
        <h2 id="who-h">Who</h2>
        <dl>
          <dt>Kind</dt>
          <dd>{detail.kind}</dd>
          <dt>People</dt>
          <dd>{detail.people.map((p) => p.person ?? 'not attributed').join(', ')}</dd>
          <dt>Usernames</dt>
          <dd class="break">{[...new Set(detail.people.flatMap((p) => p.usernames))].join(', ')}</dd>
          <dt>Actions</dt>
          <dd>
            {count(detail.people.reduce((n, p) => n + p.actions, 0))} ({count(detail.people.reduce((n, p) => n + p.denied, 0))} denied)
          </dd>
          <dt>Seen</dt>
          <dd>
            {when(detail.people.map((p) => p.firstSeen).sort()[0])} – {when(detail.people.map((p) => p.lastSeen).sort().at(-1))}
          </dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="cred-h">
        <h2 id="cred-h">Credentials used</h2>
        <p>{kinds.join(', ') || 'none recorded'}</p>
        {used > credentials.length && <p>{count(used)} credentials; the newest {credentials.length}:</p>}
        {credentials.length > 0 && (
          <ul class="plain break">
            {credentials.map((c) => (
              <li key={c}>
                <a href={href('search', [], { credential: c })}>{c}</a>
              </li>
            ))}
          </ul>
        )}
        {detail.people.some((p) => p.tokensMintedBy.length) && <p>Tokens minted by: {[...new Set(detail.people.flatMap((p) => p.tokensMintedBy))].join(', ')}</p>}
      </section>
      <section class="card" aria-labelledby="find-h">
        <h2 id="find-h">Findings</h2>
        {findings.size === 0 ? (
          <p>None.</p>
        ) : (
          <ul class="plain">
            {[...findings].map(([rule, n]) => (
              <li key={rule}>
                <a href={href('search', [], { actor: detail.identity, finding: rule })}>{rule}</a>: {count(n)} request{n === 1 ? '' : 's'}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function Checkouts({ detail }: { detail: IdentityDetail }) {
  const people = new Set(detail.people.map((p) => p.person).filter(Boolean));
  const state = useAsync(() => api.get<Page<Checkout>>('/breakglass/checkouts'), [detail.identity]);
  return (
    <>
      <h2>Break-glass checkouts</h2>
      <Loaded state={state} what="checkouts">
        {(page) => {
          const mine = page.items.filter((c) => c.account === detail.identity || c.person === detail.identity || people.has(c.person));
          return mine.length === 0 ? (
            <p class="empty">No checkouts of or by this identity.</p>
          ) : (
            <ul class="plain">
              {mine.map((c) => (
                <li key={c.id}>
                  #{c.id} {c.person} used {c.account} from {when(c.from)} to {when(c.closed ?? c.until)} — {c.reason} ({c.ticket}, approved by {c.approvedBy}){' '}
                  <a href={href('breakglass', [], { checkout: String(c.id) })}>actions</a>
                </li>
              ))}
            </ul>
          );
        }}
      </Loaded>
    </>
  );
}

function GrantedVsUsed({ detail }: { detail: IdentityDetail }) {
  const names = [...new Set([detail.identity, ...detail.people.flatMap((p) => p.usernames)])];
  const state = useAsync(() => api.get<UsageReport>('/rbac/report', { subject: names.join(','), since: '30d' }), [detail.identity]);
  return (
    <>
      <h2>Granted versus used (last 30 days)</h2>
      <Loaded state={state} what="the RBAC report">
        {(report) =>
          report.subjects.length === 0 ? (
            <p class="empty">No RBAC binding names this identity{report.outsideRbac.length ? '; see the RBAC page for requests allowed outside RBAC' : ''}.</p>
          ) : (
            <>
              {report.subjects.map((s) => (
                <div key={s.name} class="card">
                  <h3>
                    {s.kind} {s.name}
                  </h3>
                  <UsageBar used={s.used} total={s.granted} label={`permissions of ${s.name} used`} />
                  {s.note && <p class="muted">{s.note}</p>}
                  <ul class="plain">
                    {s.bindings.map((b) => (
                      <li key={b.binding}>
                        {b.binding} → {b.role}: {b.used ? `used (${count(b.requests)} requests)` : 'unused'}
                        {b.removable && <span class="badge warn">removable</span>}
                      </li>
                    ))}
                  </ul>
                  <a href={href('rbac', ['recommend'], { subject: s.name, kind: s.kind })}>Recommended least-privilege RBAC</a>
                </div>
              ))}
            </>
          )
        }
      </Loaded>
    </>
  );
}
