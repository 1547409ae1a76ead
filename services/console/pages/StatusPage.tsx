import { useEffect, useState } from 'preact/hooks';
import { api, can, type Page, type Session } from '../api.js';
import { ErrorNote, Field, Loaded, PageTitle, Table, useAsync, usePages } from '../components.js';
import { count, when } from '../format.js';
import type { Coverage as CoverageAnswer, Gap, IngestStatus, Quarantined } from '../types.js';

/** Is the audit trail flowing: newest event and rate per cluster, counters per source, Kafka lag, and what was quarantined and why. */
export function StatusPage({ session }: { session: Session }) {
  const [tick, setTick] = useState(0);
  const status = useAsync(() => api.get<IngestStatus>('/ingest/status'), [tick]);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 15_000);
    return () => clearInterval(t);
  }, []);
  return (
    <section>
      <PageTitle sub="Refreshed every 15 seconds.">Ingest status</PageTitle>
      <Loaded state={status} what="the status">
        {(s) => (
          <>
            <Status status={s} />
            <Coverage clusters={s.clusters} />
          </>
        )}
      </Loaded>
      <Gaps session={session} tick={tick} />
      {can(session, 'GET /quarantine') && <Quarantine />}
    </section>
  );
}

function Status({ status: s }: { status: IngestStatus }) {
  const sources = Object.entries(s.sinceStart.sources);
  return (
    <>
      <h2>Clusters</h2>
      {s.clusters.length === 0 ? (
        <p class="empty">No events stored yet.</p>
      ) : (
        <Table caption={<>Per cluster, as of {when(s.time)}</>} columns={['Cluster', 'Newest event (UTC)', 'Events/s (recent)', 'Quarantined']}>
          {s.clusters.map((c) => (
            <tr key={c.cluster}>
              <td>{c.cluster}</td>
              <td class="nowrap">{when(c.lastEventTime)}</td>
              <td>{c.eventsPerSecond}</td>
              <td>{Object.entries(c.quarantined).map(([src, n]) => `${src}: ${count(n)}`).join(', ') || '0'}</td>
            </tr>
          ))}
        </Table>
      )}
      <h2>This server's sources</h2>
      <p class="muted">Counted since it started {count(s.sinceStart.uptimeSeconds)} s ago.</p>
      {sources.length === 0 ? (
        <p class="empty">This server has received nothing since it started (or runs no ingest).</p>
      ) : (
        <Table caption="Events by source and outcome" columns={['Source', 'Counts', 'Stored per second']}>
          {sources.map(([name, counts]) => (
            <tr key={name}>
              <td>{name}</td>
              <td>{Object.entries(counts).filter(([k]) => k !== 'eventsPerSecond').map(([k, v]) => `${k} ${count(v)}`).join(', ')}</td>
              <td>{counts.eventsPerSecond ?? 0}</td>
            </tr>
          ))}
        </Table>
      )}
      <h2>Kafka consumer lag</h2>
      {s.kafkaLag.length === 0 ? (
        <p class="empty">No Kafka consumer runs in this server.</p>
      ) : (
        <Table caption="Messages behind, per partition" columns={['Topic', 'Partition', 'Lag']}>
          {s.kafkaLag.map((l) => (
            <tr key={`${l.topic}/${l.partition}`} class={l.lag > 10_000 ? 'denied' : undefined}>
              <td>{l.topic}</td>
              <td>{l.partition}</td>
              <td>{count(l.lag)}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

const WEEK_MS = 7 * 86_400_000;

/**
 * What the audit log of a cluster hides from kubetrail (GET /coverage), over the week up to its
 * newest event: a capture of last year is judged on its own events, not on an empty week.
 */
function Coverage({ clusters }: { clusters: IngestStatus['clusters'] }) {
  const withEvents = clusters.filter((c) => c.lastEventTime !== null);
  const [cluster, setCluster] = useState(withEvents[0]?.cluster ?? '');
  const chosen = withEvents.find((c) => c.cluster === cluster);
  const coverage = useAsync(async () => {
    if (!chosen?.lastEventTime) return null;
    const last = Date.parse(chosen.lastEventTime);
    return api.get<CoverageAnswer>('/coverage', { cluster: chosen.cluster, since: new Date(last - WEEK_MS).toISOString(), until: new Date(last + 1000).toISOString() });
  }, [cluster, chosen?.lastEventTime]);
  if (withEvents.length === 0) return null;
  return (
    <>
      <h2>What the audit log hides</h2>
      <Field label="Cluster">
        <select value={cluster} onChange={(e) => setCluster((e.target as HTMLSelectElement).value)}>
          {withEvents.map((c) => (
            <option key={c.cluster} value={c.cluster}>{c.cluster}</option>
          ))}
        </select>
      </Field>
      <Loaded state={coverage} what="the coverage">
        {(c) =>
          c === null ? null : c.items.every((i) => i.state === 'working') ? (
            <p class="empty">Every detection and report sees what it needs in {c.cluster}'s events of the week up to {when(c.until)}.</p>
          ) : (
            <Table caption={<>{c.cluster}: {count(c.stats.events)} events of the week up to {when(c.until)} (kubetrail coverage)</>} columns={['State', 'Detection or report', 'Why', 'What to change']}>
              {c.items.filter((i) => i.state !== 'working').map((i) => (
                <tr key={i.name} class={i.state === 'blind' ? 'denied' : undefined}>
                  <td>{i.state}</td>
                  <td>{i.name}</td>
                  <td>{i.why.join('; ')}</td>
                  <td>{i.fix}</td>
                </tr>
              ))}
            </Table>
          )
        }
      </Loaded>
    </>
  );
}

/** Audit pipeline gaps (PCI DSS 10.7.2), each acknowledged with its cause and remediation (10.7.3). */
function Gaps({ session, tick }: { session: Session; tick: number }) {
  const [done, setDone] = useState(0);
  const gaps = useAsync(() => api.get<Page<Gap>>('/gaps', { since: '90d' }), [tick, done]);
  return (
    <>
      <h2>Pipeline gaps</h2>
      <p class="muted">A cluster and source that sent nothing for a window, or far under its usual rate (last 90 days).</p>
      <Loaded state={gaps} what="the gaps">
        {(page) =>
          page.items.length === 0 ? (
            <p class="empty">No pipeline gap.</p>
          ) : (
            <Table caption="Gaps, newest first" columns={['Cluster · source', 'Kind', 'From (UTC)', 'To', 'Cause and remediation']}>
              {page.items.map((g) => (
                <tr key={g.id} class={g.endedAt ? undefined : 'denied'}>
                  <td>
                    {g.cluster} · {g.source}
                  </td>
                  <td>
                    {g.kind}
                    {g.lateEvents && <div class="muted">events arrived late: delayed, not lost</div>}
                  </td>
                  <td class="nowrap">{when(g.startedAt)}</td>
                  <td class="nowrap">{g.endedAt ? `${when(g.endedAt)} (${count(g.seconds)} s)` : <strong>open</strong>}</td>
                  <td class="break">
                    {g.ackedBy ? (
                      <>
                        {g.cause} — {g.remediation} <div class="muted">{g.ackedBy}, {when(g.ackedAt)}</div>
                      </>
                    ) : can(session, 'POST /gaps/:id/ack') ? (
                      <AckGap gap={g} onDone={() => setDone((n) => n + 1)} />
                    ) : (
                      <span class="muted">not acknowledged</span>
                    )}
                  </td>
                </tr>
              ))}
            </Table>
          )
        }
      </Loaded>
    </>
  );
}

function AckGap({ gap, onDone }: { gap: Gap; onDone(): void }) {
  const [cause, setCause] = useState('');
  const [remediation, setRemediation] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    api.post<Gap>(`/gaps/${gap.id}/ack`, { cause, remediation }).then(onDone, (err: Error) => setError(err.message));
  };
  return (
    <form class="filter-form" onSubmit={submit} aria-label={`Acknowledge gap ${gap.id}`}>
      <Field label="Cause">
        <input name="cause" required value={cause} onInput={(e) => setCause(e.currentTarget.value)} />
      </Field>
      <Field label="Remediation">
        <input name="remediation" required value={remediation} onInput={(e) => setRemediation(e.currentTarget.value)} />
      </Field>
      <button type="submit">Acknowledge</button>
      {error && <ErrorNote error={error} />}
    </form>
  );
}

function Quarantine() {
  const list = usePages<Quarantined>('/quarantine', { limit: '50' }, []);
  const [open, setOpen] = useState<number | null>(null);
  return (
    <>
      <h2>Quarantine</h2>
      <p class="muted">Input kubetrail could not store, kept as received with the reason.</p>
      {list.error && <ErrorNote error={list.error} />}
      {list.items.length === 0 ? (
        <p class="empty">{list.loading ? 'Loading…' : 'Nothing quarantined.'}</p>
      ) : (
        <Table caption="Quarantined input, newest first" columns={['When (UTC)', 'Source', 'Where', 'Reason', 'Input']} more={list}>
          {list.items.flatMap((q) => [
            <tr key={q.id}>
              <td class="nowrap">{when(q.time)}</td>
              <td>
                {q.source} · {q.cluster}
              </td>
              <td class="break">{q.position}</td>
              <td class="break">{q.reason}</td>
              <td>
                <button type="button" aria-expanded={open === q.id} onClick={() => setOpen(open === q.id ? null : q.id)}>
                  {open === q.id ? 'Hide' : 'Show'} {count(q.rawSize)} bytes<span class="visually-hidden"> of quarantined input {q.id}</span>
                </button>
              </td>
            </tr>,
            open === q.id && (
              <tr key={`${q.id}-raw`} class="raw-row">
                <td colSpan={5}>
                  <pre class="json" tabIndex={0} aria-label={`quarantined input ${q.id}`}>{q.raw}</pre>
                </td>
              </tr>
            ),
          ])}
        </Table>
      )}
    </>
  );
}
