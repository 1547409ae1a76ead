import { cloneElement, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, api } from './api.js';
import { count, objectName, when } from './format.js';
import { go, href } from './route.js';
import type { Action, ActionDetail } from './types.js';

export interface Async<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): void;
}

/** Runs `load` whenever `deps` change; a stale answer (the user moved on) is dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false }),
      (err: unknown) => current && setState({ data: null, error: err instanceof ApiError || err instanceof Error ? err.message : String(err), loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ what }: { what: string }) {
  return <p class="loading" role="status">Loading {what}…</p>;
}

export function ErrorNote({ error }: { error: string }) {
  return <p class="error" role="alert">{error}</p>;
}

/** Loading, the error, or the content once there is data. */
export function Loaded<T>({ state, what, children }: { state: Async<T>; what: string; children: (data: T) => ComponentChildren }) {
  if (state.error) return <ErrorNote error={state.error} />;
  if (state.data === null) return <Loading what={what} />;
  return <>{children(state.data)}</>;
}

export function PageTitle({ children, sub }: { children: ComponentChildren; sub?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${typeof children === 'string' ? children : 'kubetrail'} · kubetrail`;
  }, [children]);
  return (
    <header class="page-title">
      <h1 id="page-heading" tabIndex={-1}>{children}</h1>
      {sub && <p class="sub">{sub}</p>}
    </header>
  );
}

/** A labelled control: the label names the control alone (not its value), the hint describes it. */
export function Field({ label, children, hint }: { label: string; children: VNode<{ id?: string; 'aria-describedby'?: string }>; hint?: string }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {cloneElement(children, { id, 'aria-describedby': hint ? `${id}-hint` : undefined })}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

/** A table in a box of its own that scrolls sideways when narrow; `more` pages on with the list's nextCursor. */
export function Table({ caption, columns, children, more, class: className }: {
  caption: ComponentChildren;
  columns: ComponentChildren[];
  children: ComponentChildren;
  more?: { next: string | null; loading: boolean; more(): void };
  class?: string;
}) {
  return (
    <div class="table-wrap">
      <table class={className}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={i} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
      {more?.next && (
        <button type="button" onClick={more.more} disabled={more.loading}>
          {more.loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </div>
  );
}

export const identityHref = (id: string) => href('identity', [id]);

/** An alert's actors: one link, or one per distinct value when its requests differ. */
export function Identities({ values }: { values: string | string[] }) {
  const list = typeof values === 'string' ? [values] : values;
  return (
    <>
      {list.map((v, i) => (
        <>
          {i > 0 && ', '}
          {v === '…' ? v : <a href={identityHref(v)}>{v}</a>}
        </>
      ))}
    </>
  );
}
export const historyHref = (a: { cluster: string; apiGroup: string; resource: string; namespace: string; name: string }) =>
  href('history', [], { cluster: a.cluster, apiGroup: a.apiGroup || undefined, resource: a.resource, namespace: a.namespace || undefined, name: a.name });

const decisionLabel = { allow: 'allowed', forbid: 'denied', unknown: 'unknown' } as const;

/** Actions, one row each, newest first; each row opens to the raw event as stored (bodies for analyst and up). */
export function ActionTable({ rows, caption, more }: { rows: Action[]; caption: string; more?: { next: string | null; loading: boolean; more(): void } }) {
  const [open, setOpen] = useState<string | null>(null);
  if (rows.length === 0) return <p class="empty">No actions match.</p>;
  return (
    <Table class="actions stack" caption={caption} columns={['Time (UTC)', 'Who', 'Verb', 'Object', 'Namespace', 'Result', <span class="visually-hidden">Raw event</span>]} more={more}>
      {rows.map((a) => {
        const key = `${a.cluster}/${a.auditID}`;
        const id = `raw-${a.auditID}`;
        return [
          <tr key={key} class={a.decision === 'forbid' ? 'denied' : undefined}>
            <td class="nowrap" data-label="Time">{when(a.time)}</td>
            <td data-label="Who">
              <a href={identityHref(a.user)}>{a.user}</a>
              {a.impersonatedUser && <div class="muted">as {a.impersonatedUser}</div>}
              {a.person && a.person !== a.user && <div class="muted">person: {a.person}</div>}
            </td>
            <td data-label="Verb">{a.verb}</td>
            <td class="break" data-label="Object">
              {a.resource && a.name ? <a href={historyHref(a)}>{objectName(a)}</a> : objectName(a) || a.requestURI}
              {a.command && <code class="command">{a.command}</code>}
            </td>
            <td data-label="Namespace">{a.namespace || '—'}</td>
            <td data-label="Result">
              <span class={`badge ${a.decision}`} title={a.decisionSource === 'inferred' ? 'no decision annotation: inferred from the response' : undefined}>
                {a.code ?? '—'} {decisionLabel[a.decision]}
                {a.decisionSource === 'inferred' && <span class="muted"> (inferred)</span>}
              </span>
            </td>
            <td>
              <button type="button" class="link" aria-expanded={open === key} aria-controls={id} onClick={() => setOpen(open === key ? null : key)}>
                {open === key ? 'Hide' : 'Event'}
                <span class="visually-hidden"> {a.auditID}</span>
              </button>
            </td>
          </tr>,
          open === key && (
            <tr key={`${key}-raw`} class="raw-row">
              <td colSpan={7} id={id}>
                <RawEvent action={a} />
              </td>
            </tr>
          ),
        ];
      })}
    </Table>
  );
}

function RawEvent({ action }: { action: Action }) {
  // The action's own time narrows the lookup to an exact one.
  const t = Date.parse(action.time);
  const state = useAsync(
    () => api.get<ActionDetail>(`/events/${encodeURIComponent(action.cluster)}/${encodeURIComponent(action.auditID)}`, { since: new Date(t - 1000).toISOString(), until: new Date(t + 1000).toISOString() }),
    [action.cluster, action.auditID],
  );
  return (
    <Loaded state={state} what="the event">
      {(d) => (
        <div>
          <p class="muted">
            auditID {d.auditID} · {d.stages.length} stage{d.stages.length === 1 ? '' : 's'} · {d.bodiesShown ? 'request and response bodies shown (secrets redacted)' : 'bodies hidden: they need the analyst role'}
            {d.credential && <> · credential {d.credential}</>}
            {d.sourceIP && <> · from {d.sourceIP}</>}
          </p>
          <pre class="json" tabIndex={0} aria-label={`raw audit event ${d.auditID}`}>{JSON.stringify(d.stages, null, 2)}</pre>
        </div>
      )}
    </Loaded>
  );
}

/** Pages of a list endpoint, with "Load more" following nextCursor; no path, no request. */
export function usePages<T>(path: string, params: Record<string, string | undefined>, deps: unknown[]) {
  const [pages, setPages] = useState<{ items: T[]; next: string | null; error: string | null; loading: boolean }>({ items: [], next: null, error: null, loading: true });
  const load = (cursor: string | null) => {
    setPages((p) => ({ ...p, loading: true, error: null }));
    return api.get<{ items: T[]; nextCursor: string | null }>(path, { ...params, cursor: cursor ?? undefined });
  };
  useEffect(() => {
    let current = true;
    if (!path) {
      setPages({ items: [], next: null, error: null, loading: false });
      return;
    }
    setPages({ items: [], next: null, error: null, loading: true });
    load(null).then(
      (p) => current && setPages({ items: p.items, next: p.nextCursor, error: null, loading: false }),
      (err: Error) => current && setPages({ items: [], next: null, error: err.message, loading: false }),
    );
    return () => {
      current = false;
    };
  }, deps);
  const more = () =>
    load(pages.next).then(
      (p) => setPages((s) => ({ items: [...s.items, ...p.items], next: p.nextCursor, error: null, loading: false })),
      (err: Error) => setPages((s) => ({ ...s, error: err.message, loading: false })),
    );
  return { ...pages, more };
}

/** The start of a timeline's axis: the range asked for, else its first bucket (ISO; on the chart for tests and tools). */
const xFrom = (range: { since: string | null }, buckets: { start: number }[]) => new Date(range.since ? Date.parse(range.since) : Math.min(...buckets.map((b) => b.start))).toISOString();
const xTo = (range: { until: string }, buckets: { start: number }[]) => new Date(Math.max(Date.parse(range.until), ...buckets.map((b) => b.start))).toISOString();

/** Actions per bucket: all of them, and the denied ones in front. A table of the same numbers follows for screen readers. */
/**
 * A uPlot chart in `box` over the time range `x` (seconds), the y axis from 0: drawn when `deps`
 * change, resized with its box, destroyed with it. The axis is the range, whatever the data:
 * one point stays a point in its range.
 */
export function useTimeChart(
  box: { current: HTMLDivElement | null },
  chart: () => { height: number; x: [number, number]; yLabel: string; series: uPlot.Series[]; data: uPlot.AlignedData } | null,
  deps: unknown[],
): void {
  useEffect(() => {
    const el = box.current;
    const c = chart();
    if (!el || !c) return;
    const size = () => ({ width: Math.max(280, el.clientWidth), height: c.height });
    const plot = new uPlot(
      {
        ...size(),
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true, range: () => c.x }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ stroke: '#333' }, { stroke: '#333', label: c.yLabel }],
        series: [{ label: 'time' }, ...c.series],
      },
      c.data,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize(size()));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, deps);
}

export function TimelineChart({ buckets, label, range }: { buckets: { start: number; actions: number; denied: number }[]; label: string; range: { since: string | null; until: string } }) {
  const box = useRef<HTMLDivElement>(null);
  useTimeChart(
    box,
    () => {
      if (buckets.length === 0) return null;
      const bars = uPlot.paths.bars!({ size: [0.7, 40] });
      return {
        height: 220,
        // Without a start, the data's first bucket.
        x: [Date.parse(xFrom(range, buckets)) / 1000, Date.parse(xTo(range, buckets)) / 1000],
        yLabel: 'actions',
        series: [
          { label: 'actions', stroke: '#1f5fa8', fill: 'rgba(31,95,168,0.45)', paths: bars, points: { show: false } },
          { label: 'denied', stroke: '#b3261e', fill: 'rgba(179,38,30,0.8)', paths: bars, points: { show: false } },
        ],
        data: [buckets.map((b) => b.start / 1000), buckets.map((b) => b.actions), buckets.map((b) => b.denied)],
      };
    },
    [buckets, range.since, range.until],
  );
  const total = buckets.reduce((n, b) => n + b.actions, 0);
  const denied = buckets.reduce((n, b) => n + b.denied, 0);
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={`${label}: ${count(total)} actions, ${count(denied)} denied, over ${buckets.length} periods`} data-x-from={xFrom(range, buckets)} data-x-to={xTo(range, buckets)} />
      <details>
        <summary>The numbers</summary>
        <table>
          <caption>{label}</caption>
          <thead>
            <tr>
              <th scope="col">From (UTC)</th>
              <th scope="col">Actions</th>
              <th scope="col">Denied</th>
            </tr>
          </thead>
          <tbody>
            {buckets.map((b) => (
              <tr key={b.start}>
                <td>{when(new Date(b.start).toISOString())}</td>
                <td>{count(b.actions)}</td>
                <td>{count(b.denied)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** A bar for a share (used of granted), with its number written out. */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  if (total === 0) return <span class="muted">nothing granted through RBAC</span>;
  const pct = total === 0 ? 0 : Math.round((used / total) * 100);
  return (
    <div class="usage">
      <div class="bar" role="meter" aria-valuemin={0} aria-valuemax={total} aria-valuenow={used} aria-label={label}>
        <div class="fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="nowrap">
        {count(used)} of {count(total)} used ({pct} %)
      </span>
    </div>
  );
}

/**
 * A time range in the URL: `since` and `until` as the API takes them, a duration back from now
 * (`24h`) or an absolute time (`2025-11-02T10:00:00Z`), so that an investigation of last year's
 * capture is as easy to open, bookmark and share as the last day. Presets are links.
 */
export function RangeControl({ page, rest = [], params = {}, since, until, presets }: {
  page: string;
  rest?: string[];
  params?: Record<string, string | undefined>;
  since: string;
  until: string;
  presets: string[];
}) {
  const [from, setFrom] = useState(since);
  const [to, setTo] = useState(until);
  useEffect(() => {
    setFrom(since);
    setTo(until);
  }, [since, until]);
  return (
    <div class="range">
      <div class="toolbar" role="group" aria-label="Time range">
        {presets.map((p) => (
          <a key={p} class="button" href={href(page, rest, { ...params, since: p })} aria-current={p === since && !until ? 'true' : undefined}>
            Last {p}
          </a>
        ))}
      </div>
      <form class="filter-form" aria-label="Absolute range" onSubmit={(e) => (e.preventDefault(), go(page, rest, { ...params, since: from.trim(), until: to.trim() || undefined }))}>
        <Field label="From" hint="24h, 30d, or a time: 2025-11-02T10:00:00Z">
          <input name="since" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </Field>
        <Field label="To" hint="empty: now">
          <input name="until" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </Field>
        <button type="submit">Show</button>
      </form>
    </div>
  );
}
