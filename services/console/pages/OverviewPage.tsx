import { useRef } from 'preact/hooks';
import { api, can, type Page, type Session } from '../api.js';
import { Loaded, PageTitle, RangeControl, Table, useAsync, useTimeChart } from '../components.js';
import { count, when } from '../format.js';
import { href, type Route } from '../route.js';
import type { Alert, Checkout, Coverage, Gap, Identity, IngestStatus } from '../types.js';

/** GET /activity */
interface Activity {
  since: string;
  until: string;
  bucketSeconds: number;
  clusters: { cluster: string; buckets: { start: string; events: number; denied: number; serverErrors: number }[] }[];
}

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const COLORS = ['#1f5fa8', '#8a4f00', '#2e7d32', '#6a1b9a', '#00695c', '#ad1457'];
const TOP = 8;

/**
 * The landing page: for a range, the traffic of each cluster, denials and 5xx, open alerts,
 * the busiest and the most denied identities, break-glass use, pipeline gaps and what the audit
 * policy hides. Every number links to the page that explains it. With nothing stored yet, it
 * says how to send events instead.
 */
export function OverviewPage({ route, session }: { route: Route; session: Session }) {
  const since = route.params.since ?? '24h';
  const until = route.params.until ?? '';
  const status = useAsync(() => api.get<IngestStatus>('/ingest/status'), []);
  return (
    <section>
      <PageTitle sub="Who did what across the clusters, and what needs a look.">Overview</PageTitle>
      <Loaded state={status} what="the store">
        {(s) => (s.clusters.length === 0 ? <Empty /> : <Overview since={since} until={until} session={session} />)}
      </Loaded>
    </section>
  );
}

/** An empty store: how to send events, and the demo. */
function Empty() {
  return (
    <div class="empty-store">
      <h2>No events stored yet</h2>
      <p>kubetrail answers from the audit events it stores. Send them one of these ways:</p>
      <ul>
        <li>
          <strong>The apiserver's audit webhook:</strong> give kube-apiserver <code>--audit-webhook-config-file</code> a kubeconfig whose server is this
          kubetrail's <code>/audit/webhook/CLUSTER</code> (<code>deploy/audit-webhook-kubeconfig.yaml</code> is one) and{' '}
          <code>--audit-policy-file=deploy/audit-policy.yaml</code>.
        </li>
        <li>
          <strong>A log file:</strong> <code>kubetrail ingest /var/log/kubernetes/audit.log --cluster prod</code> (add <code>--follow</code> to keep reading).
        </li>
        <li>
          <strong>Kafka:</strong> set <code>kafka.brokers</code> (or <code>KAFKA_BROKERS</code>) and kubetrail consumes the <code>k8s-audit</code> topic.
        </li>
        <li>
          <strong>A managed cluster:</strong> EKS, GKE and AKS audit logs as their providers deliver them (README, Managed clusters).
        </li>
      </ul>
      <p>
        To see what kubetrail finds first, run the demo: <code>kubetrail demo</code> (or <code>npm run demo</code>) stores a generated day of a cluster with an
        incident woven in, in a store of its own, and serves this console on it.
      </p>
    </div>
  );
}

function Overview({ since, until, session }: { since: string; until: string; session: Session }) {
  const range = { since, until: until || undefined };
  const activity = useAsync(() => api.get<Activity>('/activity', range), [since, until]);
  const identities = useAsync(() => api.get<Page<Identity>>('/identities', { ...range, limit: '5000' }), [since, until]);
  const gaps = useAsync(() => api.get<Page<Gap>>('/gaps', { since }), [since]);
  const alerts = useAsync(async () => (can(session, 'GET /alerts') ? (await api.get<Page<Alert>>('/alerts', { status: 'open', limit: '1000' })).items : null), []);
  const checkouts = useAsync(async () => (can(session, 'GET /breakglass/checkouts') ? (await api.get<Page<Checkout>>('/breakglass/checkouts')).items : null), []);
  return (
    <>
      <RangeControl page="overview" since={since} until={until} presets={['1h', '6h', '24h', '7d']} />
      <Loaded state={activity} what="the activity">
        {(a) => (
          <>
            <h2>Traffic</h2>
            <ActivityCharts activity={a} />
            <CoverageWarnings clusters={a.clusters.map((c) => c.cluster)} since={a.since} until={a.until} />
          </>
        )}
      </Loaded>
      <div class="panels">
        {alerts.data !== null && <OpenAlerts alerts={alerts.data} />}
        <Loaded state={identities} what="the identities">
          {(p) => <Identities items={p.items} since={since} until={until} />}
        </Loaded>
        {checkouts.data !== null && alerts.data !== null && <BreakGlass checkouts={checkouts.data} alerts={alerts.data} />}
        <Loaded state={gaps} what="the pipeline gaps">
          {(p) => <Gaps gaps={p.items} />}
        </Loaded>
      </div>
    </>
  );
}

/** Events per minute of each cluster, and denials and 5xx answers of all, over the range; the numbers in a table too. */
function ActivityCharts({ activity: a }: { activity: Activity }) {
  if (a.clusters.length === 0) return <p class="empty">No events stored between {when(a.since)} and {when(a.until)}.</p>;
  const minutes = a.bucketSeconds / 60;
  const starts = a.clusters[0]!.buckets.map((b) => Date.parse(b.start) / 1000);
  const range: [number, number] = [Date.parse(a.since) / 1000, Date.parse(a.until) / 1000];
  const perMinute = (n: number) => Math.round((n / minutes) * 10) / 10;
  const total = (pick: (b: Activity['clusters'][0]['buckets'][0]) => number) => starts.map((_, i) => a.clusters.reduce((n, c) => n + pick(c.buckets[i]!), 0));
  return (
    <>
      <Chart
        label={`Events per minute by cluster, buckets of ${minutes} min`}
        range={range}
        x={starts}
        series={a.clusters.map((c, i) => ({ label: c.cluster, values: c.buckets.map((b) => perMinute(b.events)), color: COLORS[i % COLORS.length]! }))}
        yLabel="events/min"
      />
      <Chart
        label={`Denied requests and 5xx answers, all clusters, per ${minutes} min`}
        range={range}
        x={starts}
        series={[
          { label: 'denied', values: total((b) => b.denied), color: '#b3261e' },
          { label: '5xx', values: total((b) => b.serverErrors), color: '#6a1b9a' },
        ]}
        yLabel="requests"
      />
      <Table caption={`Per cluster, ${when(a.since)} to ${when(a.until)}`} columns={['Cluster', 'Events', 'Denied', '5xx']}>
        {a.clusters.map((c) => {
          const sum = (pick: (b: Activity['clusters'][0]['buckets'][0]) => number) => c.buckets.reduce((n, b) => n + pick(b), 0);
          return (
            <tr key={c.cluster}>
              <td>
                <a href={href('search', [], { cluster: c.cluster, since: a.since, until: a.until })}>{c.cluster}</a>
              </td>
              <td>{count(sum((b) => b.events))}</td>
              <td>
                <a href={href('search', [], { cluster: c.cluster, decision: 'forbid', since: a.since, until: a.until })}>{count(sum((b) => b.denied))}</a>
              </td>
              <td>
                <a href={href('search', [], { cluster: c.cluster, code: '500-599', since: a.since, until: a.until })}>{count(sum((b) => b.serverErrors))}</a>
              </td>
            </tr>
          );
        })}
      </Table>
    </>
  );
}

/** Lines over the range (the axis is the range, whatever the data: one point stays in its place). */
function Chart({ label, range, x, series, yLabel }: { label: string; range: [number, number]; x: number[]; series: { label: string; values: number[]; color: string }[]; yLabel: string }) {
  const box = useRef<HTMLDivElement>(null);
  useTimeChart(
    box,
    () => ({ height: 200, x: range, yLabel, series: series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: x.length < 3 } })), data: [x, ...series.map((s) => s.values)] }),
    [range[0], range[1], x, series],
  );
  return (
    <figure class="chart">
      <div
        ref={box}
        role="img"
        aria-label={`${label}: ${series.map((s) => `${s.label} ${count(s.values.reduce((n, v) => n + v, 0))}`).join(', ')}`}
        data-x-from={new Date(range[0] * 1000).toISOString()}
        data-x-to={new Date(range[1] * 1000).toISOString()}
      />
      <figcaption class="muted">{label}</figcaption>
    </figure>
  );
}

function OpenAlerts({ alerts }: { alerts: Alert[] }) {
  const bySeverity = SEVERITIES.map((s) => [s, alerts.filter((a) => a.severity === s).length] as const);
  // Rules by their worst open alert's severity, then by how many alerts they have open.
  const rules = new Map<string, { open: number; worst: number }>();
  for (const a of alerts) {
    const r = rules.get(a.rule) ?? { open: 0, worst: SEVERITIES.length };
    rules.set(a.rule, { open: r.open + 1, worst: Math.min(r.worst, SEVERITIES.indexOf(a.severity as (typeof SEVERITIES)[number])) });
  }
  const byRule = [...rules].sort(([, a], [, b]) => a.worst - b.worst || b.open - a.open).slice(0, TOP).map(([rule, r]) => [rule, r.open] as const);
  return (
    <div class="panel">
      <h2>Open alerts</h2>
      <ul class="counts">
        {bySeverity.map(([s, n]) => (
          <li key={s}>
            <a href={href('alerts', [], { severity: s, status: 'open' })}>
              <span class={`badge sev ${s}`}>{s}</span> {count(n)}
            </a>
          </li>
        ))}
      </ul>
      {byRule.length === 0 ? (
        <p class="empty">No open alerts.</p>
      ) : (
        <Table caption="Most frequent rules" columns={['Rule', 'Open alerts']}>
          {byRule.map(([rule, n]) => (
            <tr key={rule}>
              <td>
                <a href={href('alerts', [], { rule, status: 'open' })}>{rule}</a>
              </td>
              <td>{count(n)}</td>
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}

function Identities({ items, since, until }: { items: Identity[]; since: string; until: string }) {
  const busiest = [...items].sort((a, b) => b.actions - a.actions).slice(0, TOP);
  const denied = items.filter((i) => i.denied > 0).sort((a, b) => b.denied - a.denied).slice(0, TOP);
  const link = (i: Identity) => href('identity', [i.identity], { since, until: until || undefined });
  return (
    <>
      <div class="panel">
        <h2>Most active identities</h2>
        <Table caption="By requests in the range" columns={['Identity', 'Kind', 'Requests']}>
          {busiest.map((i) => (
            <tr key={`${i.identity} ${i.person}`}>
              <td class="break">
                {i.identity ? <a href={link(i)}>{i.identity}</a> : <span class="muted">no username (failed authentication)</span>}
                {i.person && i.person !== i.identity && <div class="muted">{i.person}</div>}
              </td>
              <td>{i.kind}</td>
              <td>{count(i.actions)}</td>
            </tr>
          ))}
        </Table>
      </div>
      <div class="panel">
        <h2>Most denied identities</h2>
        {denied.length === 0 ? (
          <p class="empty">Nothing was denied in the range.</p>
        ) : (
          <Table caption="By denied requests in the range" columns={['Identity', 'Denied', 'Of']}>
            {denied.map((i) => (
              <tr key={`${i.identity} ${i.person}`}>
                <td class="break">
                  <a href={href('search', [], { user: i.usernames[0] ?? i.identity, decision: 'forbid', since, until: until || undefined })}>{i.identity || 'no username (failed authentication)'}</a>
                </td>
                <td>{count(i.denied)}</td>
                <td>{count(i.actions)}</td>
              </tr>
            ))}
          </Table>
        )}
      </div>
    </>
  );
}

function BreakGlass({ checkouts, alerts }: { checkouts: Checkout[]; alerts: Alert[] }) {
  const unattributed = alerts.filter((a) => a.rule === 'unattributed-break-glass');
  const open = checkouts.filter((c) => !c.closed && Date.parse(c.until) > Date.now());
  return (
    <div class="panel">
      <h2>Break-glass</h2>
      <ul class="counts">
        <li>
          <a href={href('alerts', [], { rule: 'unattributed-break-glass', status: 'open' })}>
            <span class={`badge ${unattributed.length > 0 ? "sev critical" : ""}`}>outside a checkout</span> {count(unattributed.reduce((n, a) => n + a.count, 0))} requests
          </a>
        </li>
        <li>
          <a href={href('breakglass')}>
            <span class="badge">checkouts open now</span> {count(open.length)}
          </a>
        </li>
      </ul>
    </div>
  );
}

function Gaps({ gaps }: { gaps: Gap[] }) {
  const open = gaps.filter((g) => !g.endedAt);
  return (
    <div class="panel">
      <h2>Pipeline gaps</h2>
      {gaps.length === 0 ? (
        <p class="empty">No cluster went silent in the range.</p>
      ) : (
        <p>
          <a href={href('status')}>
            {count(gaps.length)} gap(s), {count(open.length)} still open
          </a>
          : {gaps.slice(0, 3).map((g) => `${g.cluster} (${g.source}) from ${when(g.startedAt)}`).join('; ')}
        </p>
      )}
    </div>
  );
}

/** What each cluster's audit policy hides, from the coverage report: the first few clusters. */
function CoverageWarnings({ clusters, since, until }: { clusters: string[]; since: string; until: string }) {
  const state = useAsync(() => Promise.all(clusters.slice(0, 4).map((cluster) => api.get<Coverage>('/coverage', { cluster, since, until }))), [clusters.join(','), since, until]);
  const warnings = (state.data ?? []).flatMap((c) => c.items.filter((i) => i.state !== 'working').map((i) => ({ cluster: c.cluster, ...i })));
  if (warnings.length === 0) return null;
  return (
    <div class="coverage-warnings">
      <p>
        {count(warnings.length)} detection(s) or report(s) degraded or blind in this range, from what the audit policies record (what to change:{' '}
        <a href={href('status')}>Ingest status</a>):
      </p>
      <ul>
        {warnings.slice(0, 6).map((w) => (
          <li key={`${w.cluster} ${w.name}`}>
            {w.cluster}: <strong>{w.name}</strong> {w.state} — {w.why[0]}
          </li>
        ))}
      </ul>
    </div>
  );
}
