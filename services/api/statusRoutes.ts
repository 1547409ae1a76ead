import { InputError } from '../../shared/errors.js';
import { evaluateCoverage } from '../../shared/analysis/coverage.js';
import { formatMicroTime } from '../../shared/audit/time.js';
import { QUARANTINE_COLUMNS } from '../../shared/storage/sqlite/queries/ingestStatus.js';
import { activityBucketMicros } from '../../shared/storage/sqlite/queries/activityQuery.js';
import { SELF_AUDIT_COLUMNS, type SelfAuditChannel } from '../../shared/storage/sqlite/tables/selfAudit.js';
import type { Route } from './apiRouter.js';
import { PAGING_PARAMS, bodyField, readBody, readId, readParams, readRange } from './params.js';
import { sendRows } from './respond.js';

const isId = (p: unknown): p is number => Number.isSafeInteger(p) && (p as number) > 0;

/** This process's ingest counters (GET /metrics has the same), by source. */
async function sourceCounters(metrics: { registry: { getSingleMetric(name: string): unknown } } | undefined) {
  const read = async (name: string) => {
    const m = metrics?.registry.getSingleMetric(name) as { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> } | undefined;
    return m ? (await m.get()).values : [];
  };
  const sources: Record<string, Record<string, number>> = {};
  for (const v of await read('kubetrail_ingest_events_total')) {
    const s = (sources[String(v.labels.source)] ??= {});
    s[String(v.labels.outcome)] = v.value;
  }
  const kafkaLag = (await read('kubetrail_kafka_consumer_lag')).map((v) => ({ topic: v.labels.topic, partition: Number(v.labels.partition), lag: v.value }));
  return { sources, kafkaLag };
}

/** A window with both ends (microseconds): since defaulting to `defaultSince` back from now, until to now. */
function closedRange(params: { since?: string; until?: string }, defaultSince: string, nowMs: number): { since: number; until: number } {
  const range = readRange({ since: params.since ?? defaultSince, until: params.until }, nowMs);
  return { since: range.since!, until: range.until ?? nowMs * 1000 };
}

export function statusRoutes(): Route[] {
  return [
    {
      method: 'get',
      path: '/gaps',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'cluster', 'open']);
        if (params.open !== undefined && params.open !== 'true' && params.open !== 'false') throw new InputError('open: expected true or false');
        const items = await call.store().status.gaps({ since: readRange(params, ctx.now()).since, cluster: params.cluster, open: params.open === 'true' }, ctx.now() * 1000);
        call.rows = items.length;
        return { items, nextCursor: null };
      },
    },
    {
      method: 'get',
      path: '/activity',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['cluster', 'since', 'until']);
        const { since, until } = closedRange(params, '24h', ctx.now());
        if (until <= since) throw new InputError('until: expected a time after since');
        const bucketMicros = activityBucketMicros(since, until);
        const clusters = await call.store().status.activity({ since, until, bucketMicros, ...(params.cluster !== undefined ? { cluster: params.cluster } : {}) });
        call.rows = clusters.length;
        return {
          since: formatMicroTime(since),
          until: formatMicroTime(until),
          bucketSeconds: bucketMicros / 1e6,
          clusters: clusters.map((c) => ({ cluster: c.cluster, buckets: c.buckets.map((b) => ({ ...b, start: formatMicroTime(b.start) })) })),
        };
      },
    },
    {
      method: 'get',
      path: '/coverage',
      role: 'viewer',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['cluster', 'since', 'until']);
        const window = { cluster: params.cluster ?? ctx.config.cluster, ...closedRange(params, '7d', ctx.now()) };
        const stats = await call.store().status.coverage(window);
        const items = evaluateCoverage(stats);
        call.rows = items.length;
        return { cluster: window.cluster, since: formatMicroTime(window.since), until: formatMicroTime(window.until), stats, items };
      },
    },
    {
      method: 'post',
      path: '/gaps/:id/ack',
      role: 'analyst',
      handle: async (call, ctx) => {
        readParams(call.req, []);
        const b = readBody(call.req, ['cause', 'remediation'], 'cause and remediation');
        const gap = await call.store().status.acknowledgeGap(readId(call.req.params.id as string, 'gap id'), { cause: bodyField(b, 'cause')!, remediation: bodyField(b, 'remediation')!, by: call.caller.name }, ctx.now() * 1000);
        call.rows = 1;
        return gap;
      },
    },
    {
      method: 'get',
      path: '/ingest/status',
      role: 'viewer',
      handle: async (call, ctx) => {
        readParams(call.req, []);
        const now = ctx.now();
        const clusters = await ctx.store.status.clusters(now * 1000);
        const { sources, kafkaLag } = await sourceCounters(ctx.metrics);
        const uptime = process.uptime();
        for (const counts of Object.values(sources)) counts.eventsPerSecond = Math.round(((counts.accepted ?? 0) / uptime) * 100) / 100;
        call.rows = clusters.length;
        return {
          time: new Date(now).toISOString(),
          clusters,
          // Counted by this process since it started (empty when it runs no ingest): events by outcome, and stored per second on average.
          sinceStart: { uptimeSeconds: Math.round(uptime), sources },
          kafkaLag,
        };
      },
    },
    {
      method: 'get',
      path: '/quarantine',
      role: 'analyst',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'source', 'cluster', ...PAGING_PARAMS]);
        const list = call.list(params, isId);
        if (list.order !== 'desc') throw new InputError('order: quarantine lists newest first only (order=desc)');
        const rows = call.store(list).status.quarantine({
          since: readRange(params, ctx.now()).since,
          source: params.source,
          cluster: params.cluster,
          beforeId: list.after ?? undefined,
          limit: list.fetch,
        });
        call.rows = await sendRows(call.res, rows, list, QUARANTINE_COLUMNS, (last) => list.cursorAt(last.id));
      },
    },
    {
      method: 'get',
      path: '/self-audit',
      role: 'admin',
      handle: async (call, ctx) => {
        const params = readParams(call.req, ['since', 'until', 'actor', 'channel', ...PAGING_PARAMS]);
        const list = call.list(params, isId);
        if (params.channel !== undefined && !['api', 'cli', 'service'].includes(params.channel)) throw new InputError(`channel: expected api, cli or service, got '${params.channel}'`);
        const rows = call.store(list).selfAudit.list({
          ...readRange(params, ctx.now()),
          actor: params.actor,
          channel: params.channel as SelfAuditChannel | undefined,
          afterId: list.after ?? undefined,
          order: list.order,
          limit: list.fetch,
        });
        call.rows = await sendRows(call.res, rows, list, SELF_AUDIT_COLUMNS, (last) => list.cursorAt(last.id));
      },
    },
  ];
}
