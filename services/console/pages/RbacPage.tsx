import { useState } from 'preact/hooks';
import { api, saveFile } from '../api.js';
import { Field, Loaded, PageTitle, RangeControl, Table, UsageBar, identityHref, useAsync } from '../components.js';
import { count } from '../format.js';
import { go, href, type Route } from '../route.js';
import type { Recommendation, SubjectReport, UsageReport } from '../types.js';

/** Granted against used, per subject, dangerous unused grants first; and the least-privilege RBAC for one subject. */
export function RbacPage({ route }: { route: Route }) {
  return route.rest[0] === 'recommend' ? <RecommendView route={route} /> : <ReportView route={route} />;
}

/** The report's scope in the URL: window, cluster and snapshot. */
interface Scope {
  since: string;
  until?: string;
  cluster?: string;
  snapshot?: string;
}

const recommendHref = (s: { kind: string; name: string }, scope: Scope) => href('rbac', ['recommend'], { subject: s.name, kind: s.kind, ...scope });

/** GET /rbac/snapshots, each item */
interface SnapshotItem {
  id: number;
  cluster: string;
  takenAt: string;
}

function ReportView({ route }: { route: Route }) {
  const since = route.params.since ?? '30d';
  const until = route.params.until ?? '';
  const snapshots = useAsync(() => api.get<{ items: SnapshotItem[] }>('/rbac/snapshots'), []);
  return (
    <section>
      <PageTitle sub="What each subject was granted, what it used, and what can go.">RBAC usage</PageTitle>
      <Loaded state={snapshots} what="the RBAC snapshots">
        {(s) =>
          s.items.length === 0 ? (
            <p class="empty">No RBAC snapshot is stored: load one with <code>kubetrail rbac load --from-cluster</code> (or files of roles and bindings).</p>
          ) : (
            <Scoped route={route} snapshots={s.items} since={since} until={until} />
          )
        }
      </Loaded>
    </section>
  );
}

/**
 * The report of one cluster and snapshot: the cluster of the newest snapshot unless one is
 * chosen, and its newest snapshot unless one is chosen.
 */
function Scoped({ route, snapshots, since, until }: { route: Route; snapshots: SnapshotItem[]; since: string; until: string }) {
  const newest = [...snapshots].sort((a, b) => b.takenAt.localeCompare(a.takenAt));
  const clusters = [...new Set(newest.map((s) => s.cluster))];
  const cluster = route.params.cluster && clusters.includes(route.params.cluster) ? route.params.cluster : newest[0]!.cluster;
  const ofCluster = newest.filter((s) => s.cluster === cluster);
  const snapshot = route.params.snapshot && ofCluster.some((s) => String(s.id) === route.params.snapshot) ? route.params.snapshot : String(ofCluster[0]!.id);
  const scope: Scope = { since, ...(until ? { until } : {}), cluster, snapshot };
  const report = useAsync(() => api.get<UsageReport>('/rbac/report', { since, until: until || undefined, cluster, snapshot }), [since, until, cluster, snapshot]);
  const to = (change: Partial<Scope>) => go('rbac', [], { ...scope, ...change });
  return (
    <>
      <form class="filter-form" aria-label="Cluster and snapshot" onSubmit={(e) => e.preventDefault()}>
        <Field label="Cluster">
          <select name="cluster" value={cluster} onChange={(e) => to({ cluster: e.currentTarget.value, snapshot: undefined })}>
            {clusters.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Snapshot">
          <select name="snapshot" value={snapshot} onChange={(e) => to({ snapshot: e.currentTarget.value })}>
            {ofCluster.map((s) => (
              <option key={s.id} value={String(s.id)}>
                #{s.id} of {s.takenAt.slice(0, 16).replace('T', ' ')} UTC
              </option>
            ))}
          </select>
        </Field>
      </form>
      <RangeControl page="rbac" params={{ cluster, snapshot }} since={since} until={until} presets={['7d', '30d', '90d']} />
      <Loaded state={report} what="the report">
        {(r) => <Report report={r} scope={scope} />}
      </Loaded>
    </>
  );
}

/** Subjects with dangerous unused grants first, then by how much is unused. */
const rank = (a: SubjectReport, b: SubjectReport) => b.unusedDangerous.length - a.unusedDangerous.length || b.unused - a.unused || a.name.localeCompare(b.name);

function Report({ report: r, scope }: { report: UsageReport; scope: Scope }) {
  const subjects = [...r.subjects].sort(rank);
  const dangerous = subjects.flatMap((s) => s.unusedDangerous.map((d) => ({ subject: s, ...d })));
  // Subjects that made no request are listed once, below, with the bindings that name them.
  const active = subjects.filter((s) => s.active);
  return (
    <>
      <p>
        Cluster <strong>{r.cluster}</strong>, {r.snapshot}; window {r.window.since.slice(0, 10)} to {r.window.until.slice(0, 10)}, {r.window.coveredDays} of {r.window.days} days with stored activity.{' '}
        {!r.window.sufficient && <strong class="warn-text">{r.window.note ?? `Under ${r.window.minDays} days: unused permissions are not claimed.`}</strong>}
      </p>
      <ul class="totals">
        <li><strong>{count(r.totals.subjects)}</strong> subjects ({count(r.totals.active)} active)</li>
        <li><strong>{count(r.totals.unusedBindings)}</strong> of {count(r.totals.bindings)} bindings unused</li>
        <li><strong>{count(r.totals.removableBindings)}</strong> removable</li>
        <li><strong>{count(r.totals.unusedDangerous)}</strong> dangerous grants unused</li>
      </ul>

      <h2>Dangerous permissions nobody used</h2>
      {dangerous.length === 0 ? (
        <p class="empty">None in this window.</p>
      ) : (
        <>
          <Table caption="Granted, dangerous, unused: the first to remove" columns={['Subject', 'Rule', 'Why dangerous', 'Through']}>
            {dangerous.slice(0, 100).map((d, i) => (
              <tr key={i} class="danger-row">
                <td class="break">
                  <a href={recommendHref(d.subject, scope)}>{d.subject.name}</a>
                </td>
                <td class="break">
                  <code>{d.rule}</code>
                </td>
                <td>{d.danger.join('; ')}</td>
                <td class="break">
                  {d.binding} → {d.role}
                </td>
              </tr>
            ))}
          </Table>
          {dangerous.length > 100 && <p class="muted">{count(dangerous.length - 100)} more; the CLI's rbac report has them all.</p>}
        </>
      )}

      <h2>Usage per subject</h2>
      <Table caption="Permissions used of those granted, per subject that made requests in the window" columns={['Subject', 'Used of granted', 'Requests', 'Bindings', 'Least privilege']}>
        {active.map((s) => (
          <tr key={`${s.kind}/${s.name}`}>
            <td class="break">
              <span class="muted">{s.kind}</span>{' '}
              {s.kind === 'Group' ? s.name : <a href={identityHref(s.name)}>{s.name}</a>}
              {s.unusedDangerous.length > 0 && <span class="badge danger">{s.unusedDangerous.length} dangerous unused</span>}
            </td>
            <td>
              <UsageBar used={s.used} total={s.granted} label={`${s.name}: permissions used of granted`} />
            </td>
            <td>
              {count(s.requests.total)}
              {s.requests.denied > 0 && <div class="muted">{count(s.requests.denied)} denied</div>}
            </td>
            <td>
              {s.bindings.filter((b) => b.used).length} of {s.bindings.length} used
              {s.bindings.some((b) => b.removable) && <div class="muted">{s.bindings.filter((b) => b.removable).length} removable</div>}
            </td>
            <td>
              <a href={recommendHref(s, scope)}>
                Recommend<span class="visually-hidden"> for {s.name}</span>
              </a>
            </td>
          </tr>
        ))}
      </Table>

      {r.outsideRbac.length > 0 && (
        <>
          <h2>Allowed outside RBAC</h2>
          <ul class="plain">
            {r.outsideRbac.map((o) => (
              <li key={o.subject + o.how}>
                <a href={identityHref(o.subject)}>{o.subject}</a>: {count(o.count)} requests through {o.how}
              </li>
            ))}
          </ul>
        </>
      )}
      {r.neverSeen.length > 0 && (
        <>
          <h2>Bound but never seen in the window</h2>
          <details>
            <summary>{count(r.neverSeen.length)} subjects, with the bindings that name them</summary>
            <ul class="plain">
              {r.neverSeen.map((n) => (
                <li key={`${n.kind}/${n.name}`}>
                  {n.kind} {n.name}: <span class="muted">{n.bindings.join(', ')}</span>
                </li>
              ))}
            </ul>
          </details>
        </>
      )}
    </>
  );
}

function RecommendView({ route }: { route: Route }) {
  const { subject = '', kind = 'User', since = '30d', until, cluster, snapshot } = route.params;
  const scope = { since, until, cluster, snapshot };
  const rec = useAsync(() => api.get<{ items: Recommendation[] }>('/rbac/recommend', { [kind === 'Group' ? 'group' : 'user']: subject, ...scope }), [subject, kind, since, until, cluster, snapshot]);
  return (
    <section>
      <PageTitle sub={<a href={href('rbac', [], scope)}>Back to the RBAC report</a>}>Least privilege for {subject}</PageTitle>
      <Loaded state={rec} what="the recommendation">
        {(r) => (
          <>
            {r.items.map((item) => (
              <RecommendationCard key={item.target} item={item} />
            ))}
          </>
        )}
      </Loaded>
    </section>
  );
}

function RecommendationCard({ item }: { item: Recommendation }) {
  const [copied, setCopied] = useState<string | null>(null);
  const dryRun = item.yaml.split('\n').filter((l) => /^# (dry run|  WOULD BE DENIED)/.test(l)).map((l) => l.slice(2));
  const copy = () =>
    navigator.clipboard.writeText(item.yaml).then(
      () => setCopied('Copied to the clipboard.'),
      () => setCopied('The browser refused the clipboard; use Download.'),
    );
  const file = `kubetrail-rbac-${item.target.replace(/[^A-Za-z0-9_.-]+/g, '-')}.yaml`;
  return (
    <article class="card">
      <h2>{item.target}</h2>
      <section aria-labelledby={`dry-${file}`} class={item.regressions === 0 ? 'dry ok' : 'dry bad'}>
        <h3 id={`dry-${file}`}>Dry run: {item.regressions === 0 ? 'no observed request would be denied' : `${count(item.regressions)} observed request(s) would be denied`}</h3>
        {dryRun.length > 0 ? (
          <ul class="plain">
            {dryRun.map((l, i) => (
              <li key={i}>{l}</li>
            ))}
          </ul>
        ) : (
          <p>No dry run: the store has no RBAC snapshot of this cluster to replay against.</p>
        )}
      </section>
      <div class="toolbar">
        <button type="button" onClick={copy}>Copy YAML</button>
        <button type="button" onClick={() => saveFile(new Blob([item.yaml], { type: 'application/yaml' }), file)}>Download {file}</button>
        <span role="status">{copied}</span>
      </div>
      <pre class="yaml" tabIndex={0} aria-label={`Recommended RBAC for ${item.target}`}>{item.yaml}</pre>
    </article>
  );
}
