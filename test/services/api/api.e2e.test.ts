import { systemClock } from '../../../services/cli/clock.js';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hashToken } from '../../../shared/access.js';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { loadConfig } from '../../../shared/config.js';
import { createLogger } from '../../../shared/log.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { verifyChain } from '../../../shared/storage/sqlite/chain/verifyChain.js';
import { serve, type RunningServer } from '../../../services/cli/serve.js';
import pg from 'pg';
import { isPostgresUrl, openPgStore } from '../../../shared/storage/postgres/pgStore.js';
import { verifyPgChain } from '../../../shared/storage/postgres/pgVerify.js';
import { CLI, apiTokenLines, cliEnv, makeEvent, onEachBackend, runCli, startServe, tempDir } from '../../helpers.js';
import { checkSchema, parseCsv, responseSchema } from './schemaCheck.js';

const TOKENS = { viewer: 'viewer-token-0123456789', analyst: 'analyst-token-0123456789', admin: 'admin-token-0123456789' } as const;
type Who = keyof typeof TOKENS | 'none' | 'wrong';

interface Page {
  items: { auditID: string }[];
  nextCursor: string | null;
}

const eventList = (items: unknown[]) => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
const at = (second: number) => `2026-07-23T10:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.000000Z`;

/** A varied night of activity: reads, secret reads, exec, denials, odd user agents, a body with a secret. */
function fixtureEvents(): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (let i = 0; i < 40; i++) {
    events.push(makeEvent({
      requestReceivedTimestamp: at(i), stageTimestamp: at(i),
      user: { username: i % 2 ? 'alice' : 'bob', groups: ['dev', 'system:authenticated'] },
      verb: i % 5 === 0 ? 'delete' : 'get',
      sourceIPs: [i % 3 ? '10.0.0.7' : '192.168.4.20'],
      objectRef: { resource: 'pods', namespace: i % 4 ? 'team-a' : 'team-b', name: `web-${i}`, apiVersion: 'v1' },
      requestURI: `/api/v1/namespaces/${i % 4 ? 'team-a' : 'team-b'}/pods/web-${i}`,
      responseStatus: { metadata: {}, code: i % 7 === 0 ? 403 : 200 },
      annotations: i % 7 === 0 ? { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' } : makeEvent().annotations,
    }));
  }
  // Same second as another event: the page boundary must hold between them.
  events.push(makeEvent({ requestReceivedTimestamp: at(10), stageTimestamp: at(10), userAgent: '=HYPERLINK("http://x"),"quoted"\nnext line' }));
  events.push(makeEvent({
    requestReceivedTimestamp: at(50), stageTimestamp: at(50), verb: 'get', level: 'RequestResponse',
    objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db-password', apiVersion: 'v1' },
    requestURI: '/api/v1/namespaces/team-a/secrets/db-password',
    responseObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db-password' }, data: { password: 'aHVudGVyMg==' } },
  }));
  return events;
}

/** Runs SQL on either store (SQLite's ? placeholders become $n on PostgreSQL); the first row. */
async function sql(db: string, text: string, params: unknown[] = []): Promise<Record<string, unknown> | undefined> {
  if (isPostgresUrl(db)) {
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    try {
      let n = 0;
      return (await c.query(text.replace(/\?/g, () => `$${++n}`), params)).rows[0];
    } finally {
      await c.end();
    }
  }
  const store = openStore(db, { clock: systemClock });
  try {
    const st = store.db.prepare(text);
    return st.reader ? (st.get(...params) as Record<string, unknown>) : (st.run(...params), undefined);
  } finally {
    store.close();
  }
}

onEachBackend('query API (real HTTP)', (backend) => {
  const dir = tempDir();
  let db: string;
  let server: RunningServer;
  let doc: Record<string, unknown>;
  const events = fixtureEvents();

  before(async function () {
    if (!backend()) this.skip();
    db = backend();
    const file = join(dir, 'kubetrail.yaml');
    writeFileSync(file, [
      'listen: 127.0.0.1:0',
      'api:',
      '  maxPageSize: 50',
      ...apiTokenLines(TOKENS),
    ].join('\n'));
    server = await serve(loadConfig({ file, env: {}, overrides: { databasePath: db } }), ['ingest', 'api'], createLogger('silent'));
    const r = await post('/audit/webhook/prod', eventList(events), 'none');
    expect(r.status).to.equal(200);
    doc = (await (await get('/openapi.json', 'viewer')).json()) as Record<string, unknown>;
  });
  after(() => server.stop());

  const headers = (who: Who, extra: Record<string, string> = {}) => ({
    ...extra,
    ...(who === 'none' ? {} : { authorization: `Bearer ${who === 'wrong' ? 'not-a-token-of-ours-000' : TOKENS[who]}` }),
  });
  function get(path: string, who: Who, extra: Record<string, string> = {}): Promise<Response> {
    return fetch(`${server.url}/api/v1${path}`, { headers: headers(who, extra) });
  }
  function post(path: string, body: unknown, who: Who): Promise<Response> {
    const url = path.startsWith('/audit') ? server.url + path : `${server.url}/api/v1${path}`;
    return fetch(url, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: headers(who, { 'content-type': 'application/json' }) });
  }
  /** The JSON of a 2xx answer, checked against the OpenAPI document. */
  async function conform(res: Response, template: string, method = 'get'): Promise<any> {
    const body = await res.json();
    const schema = responseSchema(doc, template, method, res.status);
    expect(schema, `${method} ${template} ${res.status} is not in the OpenAPI document`).to.not.equal(null);
    expect(checkSchema(body, schema!, doc), `${method} ${template}`).to.deep.equal([]);
    return body;
  }
  async function allPages(query: string, who: Who = 'viewer'): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`${query}${cursor ? `&cursor=${cursor}` : ''}`, who);
      expect(res.status, await res.clone().text()).to.equal(200);
      const page = await conform(res, query.split('?')[0]!);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  describe('access control', () => {
    // Each endpoint with the least role it needs, and a request that succeeds for it.
    const matrix: [string, string, 'viewer' | 'analyst' | 'admin', unknown?][] = [
      ['get', '/events?limit=5', 'viewer'],
      ['get', '/events?format=csv&limit=2', 'analyst'],
      ['get', '/history?resource=pods&namespace=team-a&name=web-1', 'viewer'],
      ['get', '/identities', 'viewer'],
      ['get', '/identities/alice', 'viewer'],
      ['get', '/identities/alice/timeline?bucket=day', 'viewer'],
      ['get', '/ingest/status', 'viewer'],
      ['get', '/coverage?cluster=prod&since=2026-07-01T00:00:00Z', 'viewer'],
      ['get', '/activity?since=2026-07-23T10:00:00Z&until=2026-07-23T10:06:00Z', 'viewer'],
      ['get', '/alerts', 'analyst'],
      ['get', '/breakglass/checkouts', 'analyst'],
      ['get', '/quarantine', 'analyst'],
      ['get', '/self-audit', 'admin'],
      ['get', '/rbac/snapshots', 'admin'],
      ['get', '/openapi.json', 'viewer'],
      ['get', '/session', 'viewer'],
      ['get', '/gaps', 'viewer'],
    ];
    const order = ['viewer', 'analyst', 'admin'] as const;
    for (const [method, path, needs] of matrix) {
      it(`${method.toUpperCase()} ${path}: 401 without a token or with a wrong one, 403 below ${needs}, 200 from ${needs} up`, async () => {
        for (const who of ['none', 'wrong'] as const) {
          const res = await get(path, who);
          expect(res.status, `${who}`).to.equal(401);
          expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
          expect((await res.json()).error).to.match(who === 'none' ? /needs a bearer token/ : /not one kubetrail knows/);
        }
        for (const role of order) {
          const res = await get(path, role);
          const allowed = order.indexOf(role) >= order.indexOf(needs);
          expect(res.status, `${role}: ${await res.clone().text()}`).to.equal(allowed ? 200 : 403);
          if (!allowed) expect((await res.json()).error).to.contain(`needs the ${needs} role`).and.contain(`has ${role}`);
        }
      });
    }

    it('tells a token its name, role and the endpoints it may call (what the console shows)', async () => {
      const viewer = await conform(await get('/session', 'viewer'), '/session');
      expect(viewer).to.include({ name: 'soc-viewer', role: 'viewer', exports: false, bodies: false });
      expect(viewer.routes).to.include('GET /events').and.not.include('GET /alerts');
      const analyst = await conform(await get('/session', 'analyst'), '/session');
      expect(analyst.routes).to.include.members(['GET /alerts', 'POST /alerts/:id/ack', 'POST /breakglass/checkouts']).and.not.include('GET /rbac/report');
      const admin = await conform(await get('/session', 'admin'), '/session');
      expect(admin).to.include({ role: 'admin', exports: true, bodies: true });
      // Every route the router serves, and none twice.
      expect(admin.routes).to.include.members(['GET /rbac/report', 'GET /rbac/recommend', 'GET /self-audit']);
      expect(new Set(admin.routes).size).to.equal(admin.routes.length);
    });

    it('shows request and response bodies to analysts and up, redacted, and never to viewers', async () => {
      const secretRead = events.at(-1)!;
      const path = `/events/prod/${secretRead.auditID}`;
      const asViewer = await conform(await get(path, 'viewer'), '/events/{cluster}/{auditID}');
      expect(asViewer.bodiesShown).to.equal(false);
      expect(asViewer.stages[0].responseObject).to.equal(undefined);
      const asAnalyst = await conform(await get(path, 'analyst'), '/events/{cluster}/{auditID}');
      expect(asAnalyst.bodiesShown).to.equal(true);
      expect(asAnalyst.stages[0].responseObject.metadata.name).to.equal('db-password');
      expect(JSON.stringify(asAnalyst.stages[0].responseObject)).to.not.contain('aHVudGVyMg==');
      expect((await get(`/events/prod/${secretRead.auditID}?since=2026-07-23T10:00:50Z&until=2026-07-23T10:00:51Z`, 'viewer')).status).to.equal(200);
      const missing = await get('/events/prod/00000000-0000-0000-0000-000000000000', 'viewer');
      expect(missing.status).to.equal(404);
    });
  });

  describe('queries', () => {
    it('filters by user, verb, decision, code range, CIDR, user agent, text in the URI and time, in one language with the CLI', async () => {
      const ids = async (q: string) => (await allPages(`/events?${q}&limit=50`)).map((r) => r.auditID).sort();
      const expected = (f: (e: AuditEvent) => boolean) => events.filter(f).map((e) => e.auditID).sort();
      expect(await ids('user=alice&verb=get')).to.deep.equal(expected((e) => e.user.username === 'alice' && e.verb === 'get'));
      expect(await ids('decision=forbid')).to.deep.equal(expected((e) => e.annotations?.['authorization.k8s.io/decision'] === 'forbid'));
      expect(await ids('code=400-499')).to.deep.equal(expected((e) => (e.responseStatus?.code ?? 0) >= 400));
      expect(await ids('sourceIP=192.168.0.0/16')).to.deep.equal(expected((e) => e.sourceIPs![0]!.startsWith('192.168.')));
      expect(await ids('userAgent=HYPERLINK')).to.have.length(1);
      expect(await ids('q=team-b/pods/web-1')).to.deep.equal(expected((e) => e.requestURI.includes('team-b/pods/web-1')));
      expect(await ids('since=2026-07-23T10:00:30Z&until=2026-07-23T10:00:40Z')).to.deep.equal(expected((e) => e.requestReceivedTimestamp >= at(30) && e.requestReceivedTimestamp < at(40)));
      expect(await ids('resource=secrets&apiGroup=core')).to.deep.equal([events.at(-1)!.auditID]);
      // The actions behind alerts of a rule: through the alerts' request times, or for alerts
      // kept before those were (NULL), within the alert's span.
      const secretReads = await ids('finding=secret-read');
      expect(secretReads).to.deep.equal([events.at(-1)!.auditID]);
      // (A SQLite store's older rows; PostgreSQL's were always kept with their times.)
      if (!isPostgresUrl(db)) {
        await sql(db, 'UPDATE alert_events SET received_at = NULL');
        expect(await ids('finding=secret-read')).to.deep.equal(secretReads);
      }
      expect(await ids('finding=secret-read&since=2026-07-24T00:00:00Z')).to.deep.equal([]);
    });

    it('answers the history of one object, and an identity with its timeline', async () => {
      const history = await allPages('/history?resource=pods&namespace=team-a&name=web-1');
      const onWeb1 = events.filter((e) => e.objectRef?.resource === 'pods' && e.objectRef.namespace === 'team-a' && e.objectRef.name === 'web-1');
      expect(history.map((r) => r.auditID).sort()).to.deep.equal(onWeb1.map((e) => e.auditID).sort());
      const aliceActions = events.filter((e) => e.user.username === 'alice').length;
      const alice = await conform(await get('/identities/alice', 'viewer'), '/identities/{id}');
      expect(alice.people[0].actions).to.equal(aliceActions);
      const timeline = await conform(await get('/identities/alice/timeline?bucket=hour', 'viewer'), '/identities/{id}/timeline');
      const total = timeline.items.reduce((n: number, b: { actions: number }) => n + b.actions, 0);
      expect(total).to.equal(aliceActions);
      expect(timeline.items.every((b: { start: string }) => b.start === '2026-07-23T10:00:00.000000Z')).to.equal(true);
      expect((await get('/identities/nobody', 'viewer')).status).to.equal(404);
      expect((await allPages('/identities?limit=1')).map((i) => i.identity)).to.include.members(['alice', 'bob']);
    });

    it('refuses bad parameters with a 400 that names them', async () => {
      const cases: [string, RegExp][] = [
        ['/events?since=yesterday', /^since: expected a duration/],
        ['/events?code=abc', /^code: expected an HTTP status/],
        ['/events?code=499-400', /^code:/],
        ['/events?limit=0', /^limit: expected 1 to 50/],
        ['/events?limit=51', /^limit: expected 1 to 50/],
        ['/events?order=up', /^order: expected asc or desc/],
        ['/events?sourceIP=300.1.1.1/8', /^sourceIP: expected an IP address or CIDR/],
        ['/events?decision=maybe', /^decision: expected one of/],
        ['/events?verb=get;drop', /^verb: expected a verb/],
        ['/events?user=a&user=b', /^user: give it once/],
        ['/events?usr=alice', /^unknown query parameter 'usr'/],
        ['/events?cursor=bm90LWEtY3Vyc29y', /^cursor: not a cursor this API gave out/],
        ['/events?since=2026-07-24T00:00:00Z&until=2026-07-23T00:00:00Z', /^since must be before until/],
        ['/identities/alice/timeline?bucket=week', /^bucket: expected hour or day/],
        ['/history?resource=pods', /^name: required/],
        [`/events?name=${'x'.repeat(1100)}`, /^name: longer than 1024/],
      ];
      for (const [path, message] of cases) {
        const res = await get(path, 'admin');
        expect(res.status, path).to.equal(400);
        const body = await conform(res, path.split('?')[0]!.replace('/alice/', '/{id}/'));
        expect(body.error, path).to.match(message);
      }
    });

    it('takes injection attempts in every parameter as plain values', async () => {
      const before = await allPages('/events?limit=50');
      const attempts = ["' OR '1'='1", '%', '_', '*', '"; DROP TABLE events; --', 'a\u0000b', '1) OR (1=1', '${jndi:ldap://x}', '../../etc/passwd'];
      const free = ['cluster', 'user', 'actor', 'effectiveUser', 'person', 'credential', 'resource', 'subresource', 'namespace', 'name', 'userAgent', 'finding', 'q', 'apiGroup'];
      // PostgreSQL holds no text with U+0000 (events with one are quarantined): it says so, with a 400.
      const nulRefused = async (res: Response, what: string) => {
        expect(res.status, what).to.equal(400);
        expect((await res.json()).error, what).to.contain('U+0000');
      };
      const pgNul = (a: string) => isPostgresUrl(db) && a.includes('\u0000');
      for (const p of free) {
        for (const a of attempts) {
          const res = await get(`/events?${p}=${encodeURIComponent(a)}`, 'analyst');
          // (q is matched by kubetrail, not by the store: no refusal needed.)
          if (pgNul(a) && p !== 'q') {
            await nulRefused(res, `${p}=${a}`);
            continue;
          }
          expect(res.status, `${p}=${a}`).to.equal(200);
          expect((await res.json()).items, `${p}=${a}`).to.deep.equal([]);
        }
      }
      for (const p of ['verb', 'decision', 'code', 'sourceIP', 'since', 'until', 'limit', 'order', 'format', 'cursor']) {
        for (const a of attempts) expect((await get(`/events?${p}=${encodeURIComponent(a)}`, 'analyst')).status, `${p}=${a}`).to.equal(400);
      }
      for (const a of attempts) {
        const res = await get(`/identities/${encodeURIComponent(a)}`, 'analyst');
        expect(res.status, a).to.equal(404);
      }
      expect((await allPages('/events?limit=50')).length).to.equal(before.length);
      // Every one of those calls is in the trail, the crafted ones too.
      const trail = await allPages('/self-audit?limit=50&channel=api&actor=soc-analyst', 'admin');
      expect(trail.filter((e) => e.action.startsWith('GET /api/v1/identities/')).map((e) => e.status)).to.have.length.at.least(attempts.length);
    });

    it('streams CSV that a spreadsheet reads back exactly and cannot run as formulas', async () => {
      const res = await get('/events?format=csv&userAgent=HYPERLINK', 'analyst');
      expect(res.headers.get('content-type')).to.match(/^text\/csv/);
      const rows = parseCsv(await res.text());
      const header = rows[0]!;
      expect(rows).to.have.length(2);
      const ua = rows[1]![header.indexOf('userAgent')]!;
      expect(ua).to.equal(`'=HYPERLINK("http://x"),"quoted"\nnext line`);
      const all = parseCsv(await (await get('/events', 'analyst', { accept: 'text/csv' })).text());
      expect(all.length - 1).to.equal(events.length);
      const nd = (await (await get('/events?format=ndjson', 'analyst')).text()).trim().split('\n').map((l) => JSON.parse(l));
      expect(nd.map((r) => r.auditID).sort()).to.deep.equal(events.map((e) => e.auditID).sort());
      expect((await get('/events?format=ndjson', 'viewer')).status).to.equal(403);
    });
  });

  describe('pagination', () => {
    it('pages newest first and oldest first through every action once, also within one second', async () => {
      const desc = await allPages('/events?limit=7');
      const asc = await allPages('/events?limit=6&order=asc');
      expect(desc.map((r) => r.auditID).sort()).to.deep.equal(events.map((e) => e.auditID).sort());
      expect(asc.map((r) => r.auditID)).to.deep.equal([...desc].reverse().map((r) => r.auditID));
      expect(desc.map((r) => r.time)).to.deep.equal([...desc.map((r) => r.time)].sort().reverse());
    });

    it('skips nothing and repeats nothing while ingest goes on', async () => {
      const present = (await allPages('/events?limit=50')).map((r) => r.auditID);
      const seen: string[] = [];
      let cursor: string | null = null;
      let round = 0;
      do {
        // Between pages: new actions before, within and after the range, and later stages of ones already seen.
        const late = [makeEvent({ requestReceivedTimestamp: at(round % 60), stageTimestamp: at(round % 60) }), makeEvent({ requestReceivedTimestamp: '2026-07-23T11:00:00.000000Z', stageTimestamp: '2026-07-23T11:00:00.000000Z' })];
        const pageOf: Promise<Page> = get(`/events?limit=5&order=asc${cursor ? `&cursor=${cursor}` : ''}`, 'viewer').then((r) => r.json() as Promise<Page>);
        const [page]: [Page, Response] = await Promise.all([pageOf, post('/audit/webhook/prod', eventList([...late, { ...events[round]!, stage: 'Panic' }]), 'none')]);
        seen.push(...page.items.map((r) => r.auditID));
        cursor = page.nextCursor;
        round++;
      } while (cursor && round < 100);
      expect(new Set(seen).size, 'repeated').to.equal(seen.length);
      expect(present.filter((id) => !seen.includes(id)), 'skipped').to.deep.equal([]);
    });
  });

  describe('alerts and break-glass', () => {
    it('acknowledges and resolves an alert, recording who and when; 404 and 409 otherwise', async () => {
      const row = await sql(db, `INSERT INTO alerts (rule, severity, dedupe_key, cluster, first_at, last_at, actor, effective_user, count, message, pci, raised_at)
        VALUES ('secret-read', 'medium', 'k', 'prod', 1, 2, 'alice', 'alice', 1, 'm', '[]', 3) RETURNING id`);
      const id = Number(row!.id);
      const acked = await conform(await post(`/alerts/${id}/ack`, undefined, 'analyst'), '/alerts/{id}/ack', 'post');
      expect(acked).to.include({ status: 'acknowledged', ackedBy: 'soc-analyst' });
      expect((await post(`/alerts/${id}/ack`, undefined, 'analyst')).status).to.equal(409);
      const resolved = await conform(await post(`/alerts/${id}/resolve`, undefined, 'admin'), '/alerts/{id}/resolve', 'post');
      expect(resolved).to.include({ status: 'resolved', resolvedBy: 'soc-admin', ackedBy: 'soc-analyst' });
      expect((await post(`/alerts/${id}/resolve`, undefined, 'admin')).status).to.equal(409);
      expect((await post('/alerts/999999/ack', undefined, 'analyst')).status).to.equal(404);
      expect((await post(`/alerts/${id}/ack`, undefined, 'viewer')).status).to.equal(403);
      const listed = await allPages('/alerts?status=resolved&limit=1', 'analyst');
      expect(listed.map((a) => a.id)).to.include(id);
    });

    it('checks out, lists and closes a break-glass account', async () => {
      const body = { account: 'breakglass-admin', person: 'carol', approvedBy: 'dave', reason: 'INC-7 outage', ticket: 'INC-7', for: '2h' };
      const created = await post('/breakglass/checkouts', body, 'analyst');
      expect(created.status).to.equal(201);
      const c = await conform(created, '/breakglass/checkouts', 'post');
      expect(c).to.include({ account: 'breakglass-admin', person: 'carol' });
      expect((await post('/breakglass/checkouts', { ...body, approvedBy: 'carol' }, 'analyst')).status).to.equal(400);
      expect((await post('/breakglass/checkouts', { ...body, extra: 1 }, 'analyst')).status).to.equal(400);
      const list = await conform(await get('/breakglass/checkouts', 'analyst'), '/breakglass/checkouts');
      expect(list.items.map((x: { id: number }) => x.id)).to.include(c.id);
      const closed = await conform(await post(`/breakglass/checkouts/${c.id}/close`, undefined, 'analyst'), '/breakglass/checkouts/{id}/close', 'post');
      expect(closed.closed).to.be.a('string');
      const bad = await fetch(`${server.url}/api/v1/breakglass/checkouts`, { method: 'POST', body: '{not json', headers: headers('analyst', { 'content-type': 'application/json' }) });
      expect(bad.status).to.equal(400);
      expect((await bad.json()).error).to.match(/not valid JSON/);
    });

    it('reports ingest status and quarantined input', async () => {
      await post('/audit/webhook/prod', eventList([{ kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'broken' }]), 'none');
      const status = await conform(await get('/ingest/status', 'viewer'), '/ingest/status');
      const coverage = await conform(await get('/coverage?cluster=prod&since=2026-07-23T00:00:00Z&until=2026-07-24T00:00:00Z', 'viewer'), '/coverage');
      expect(coverage.stats.events).to.be.greaterThan(events.length);
      expect(coverage.items.find((i: { name: string }) => i.name === 'secret-read')).to.include({ state: 'working' });
      const prod = status.clusters.find((c: { cluster: string }) => c.cluster === 'prod');
      expect(prod.lastEventTime).to.equal('2026-07-23T11:00:00.000000Z');
      expect(prod.quarantined.webhook).to.be.at.least(1);
      expect(status.sinceStart.sources.webhook.accepted).to.be.at.least(events.length);
      const q = await allPages('/quarantine?limit=1', 'analyst');
      expect(q[0].reason).to.be.a('string').and.not.equal('');
    });
  });

  describe('RBAC', () => {
    before(async () => {
      const rbac = join(dir, 'rbac.yaml');
      writeFileSync(rbac, [
        'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRole', 'metadata: {name: pod-reader}', 'rules:', '- apiGroups: [""]', '  resources: [pods, secrets]', '  verbs: [get, list, delete]',
        '---',
        'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata: {name: readers, namespace: team-a}', 'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}',
        'subjects:', '- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}',
      ].join('\n'));
      const r = await runCli(['rbac', 'load', rbac, '--cluster', 'prod', '--db', db], cliEnv());
      expect(r.status, r.stderr).to.equal(0);
    });

    it('answers can, who-can and permissions from the newest snapshot, as the CLI does', async () => {
      const can = await conform(await get('/rbac/can?verb=get&resource=pods&namespace=team-a&user=alice&groups=dev&cluster=prod', 'admin'), '/rbac/can');
      expect(can.allowed).to.equal(true);
      expect(can.explanation.join('\n')).to.contain('RoleBinding').and.contain('pod-reader');
      const cannot = await conform(await get('/rbac/can?verb=create&resource=pods&namespace=team-a&user=alice&cluster=prod', 'admin'), '/rbac/can');
      expect(cannot.allowed).to.equal(false);
      const who = await conform(await get('/rbac/who-can?verb=get&resource=pods&namespace=team-a&cluster=prod', 'admin'), '/rbac/who-can');
      expect(who.items.map((r: { subject: string }) => r.subject)).to.include('User alice');
      const perms = await conform(await get('/rbac/permissions?user=alice&cluster=prod', 'admin'), '/rbac/permissions');
      expect(perms.items[0].binding).to.equal('RoleBinding team-a/readers');
      const snaps = await conform(await get('/rbac/snapshots?cluster=prod', 'admin'), '/rbac/snapshots');
      expect(snaps.items).to.have.length(1);
      const missing = await get('/rbac/can?verb=get&resource=pods&user=alice&cluster=elsewhere', 'admin');
      expect(missing.status).to.equal(400);
      expect((await missing.json()).error).to.contain('no RBAC snapshot of cluster');
      expect((await get('/rbac/can?verb=get&resource=pods&cluster=prod', 'admin')).status).to.equal(400);
    });

    it('reports usage and recommends a narrower Role from what alice did', async () => {
      const window = 'since=2026-07-01T00:00:00Z&until=2026-08-01T00:00:00Z&cluster=prod';
      const report = await conform(await get(`/rbac/report?${window}`, 'admin'), '/rbac/report');
      expect(report.cluster).to.equal('prod');
      expect(report.subjects.map((x: { subject?: string; name?: string }) => JSON.stringify(x))).to.satisfy((xs: string[]) => xs.some((x) => x.includes('alice')));
      const rec = await conform(await get(`/rbac/recommend?user=alice&${window}`, 'admin'), '/rbac/recommend');
      expect(rec.items).to.have.length(1);
      expect(rec.items[0].target).to.equal('User alice');
      expect(rec.items[0].yaml).to.contain('kind: Role').and.contain('- pods');
      expect((await get(`/rbac/recommend?${window}`, 'admin')).status).to.equal(400);
      expect((await get(`/rbac/recommend?user=alice&${window}`, 'analyst')).status).to.equal(403);
    });
  });

  describe('the document and the trail', () => {
    it('exposes the store hash chain head on /metrics, as kubetrail verify recomputes it', async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const m = /kubetrail_store_chain_head_info\{seq="(\d+)",hash="([0-9a-f]{64})"\} 1/.exec(text);
      expect(m, text.split('\n').filter((l) => l.includes('chain')).join('\n')).to.not.equal(null);
      expect(text).to.contain(`kubetrail_store_chain_length ${m![1]}`);
      if (isPostgresUrl(db)) {
        // One chain stream per writer: this server's is among those verify checks.
        const store = await openPgStore(db, { clock: systemClock });
        try {
          const report = await verifyPgChain(store.pool);
          expect(report.ok).to.equal(true);
          expect(report.streams.map((x) => `${x.seq} ${x.hash}`)).to.include(`${m![1]} ${m![2]}`);
        } finally {
          await store.close();
        }
        return;
      }
      const store = openStore(db, { readonly: true });
      try {
        const report = verifyChain(store.db);
        expect(report.ok).to.equal(true);
        expect(report.head).to.include({ seq: Number(m![1]), hash: m![2] });
      } finally {
        store.close();
      }
    });

    it('documents every endpoint it answers, with the role each needs', async () => {
      const paths = Object.keys(doc.paths as object).sort();
      expect(paths).to.deep.equal([
        '/activity', '/alerts', '/alerts/{id}/ack', '/alerts/{id}/resolve', '/breakglass/checkouts', '/breakglass/checkouts/{id}/close', '/coverage', '/events', '/events/{cluster}/{auditID}',
        '/gaps', '/gaps/{id}/ack', '/history', '/identities', '/identities/{id}', '/identities/{id}/timeline', '/ingest/status', '/openapi.json', '/quarantine',
        '/rbac/can', '/rbac/permissions', '/rbac/recommend', '/rbac/report', '/rbac/snapshots', '/rbac/who-can', '/self-audit', '/session',
      ]);
      const res = await get('/no/such/thing', 'viewer');
      expect(res.status).to.equal(404);
      expect((await res.json()).error).to.contain('openapi.json');
    });

    it('counts stored events, denials and 5xx per bucket of a range and cluster, every bucket present (the overview)', async () => {
      const a = await conform(await get('/activity?since=2026-07-23T10:00:00Z&until=2026-07-23T10:06:00Z', 'viewer'), '/activity');
      expect(a).to.include({ since: '2026-07-23T10:00:00.000000Z', until: '2026-07-23T10:06:00.000000Z', bucketSeconds: 60 });
      const prod = a.clusters.find((c: { cluster: string }) => c.cluster === 'prod');
      expect(prod.buckets.map((b: { start: string }) => b.start)).to.deep.equal([0, 1, 2, 3, 4, 5].map((m) => `2026-07-23T10:0${m}:00.000000Z`));
      const first = await sql(db, "SELECT count(*) AS n, sum(CASE WHEN decision = 2 THEN 1 ELSE 0 END) AS denied FROM events WHERE received_at >= ? AND received_at < ? AND cluster_id = (SELECT id FROM strings WHERE value = 'prod')", [Date.parse('2026-07-23T10:00:00Z') * 1000, Date.parse('2026-07-23T10:01:00Z') * 1000]);
      expect(prod.buckets[0]).to.deep.include({ events: Number(first!.n), denied: Number(first!.denied) });
      expect(prod.buckets[0].events).to.be.greaterThan(40);
      expect(prod.buckets[0].denied).to.be.at.least(6);
      // A long range: whole-minute buckets, at most 360.
      const year = await (await get('/activity?since=2025-07-23T00:00:00Z&until=2026-07-23T00:00:00Z', 'viewer')).json();
      expect(year.bucketSeconds % 60).to.equal(0);
      expect(Math.ceil((365 * 86_400) / year.bucketSeconds)).to.be.at.most(360);
      expect((await get('/activity?since=2026-07-23T10:00:00Z&until=2026-07-23T09:00:00Z', 'viewer')).status).to.equal(400);
    });

    it('records every call — who, what, how many rows, the result — and admins alone read it', async () => {
      await get('/events?user=alice&limit=3', 'analyst');
      await get('/self-audit', 'wrong');
      await get('/self-audit', 'viewer');
      const trail = await allPages('/self-audit?limit=50&channel=api', 'admin');
      const mine = trail.find((e) => e.action === 'GET /api/v1/events' && e.query?.user === 'alice' && e.query?.limit === '3');
      expect(mine).to.include({ actor: 'soc-analyst', role: 'analyst', rows: 3, status: 200, source: '127.0.0.1' });
      expect(trail.find((e) => e.action === 'GET /api/v1/self-audit' && e.status === 401)).to.include({ actor: 'unknown token', role: null });
      expect(trail.find((e) => e.action === 'GET /api/v1/self-audit' && e.status === 403)).to.include({ actor: 'soc-viewer', role: 'viewer' });
      const service = await allPages('/self-audit?limit=50&channel=service', 'admin');
      expect(service.map((e) => e.action)).to.include('start');
      // The CLI's queries of the local store are in the same trail.
      const cli = await runCli(['events', '--db', db, '--user', 'bob', '--limit', '2', '--output', 'json'], cliEnv());
      expect(cli.status, cli.stderr).to.equal(0);
      const cliTrail = await allPages('/self-audit?limit=50&channel=cli', 'admin');
      expect(cliTrail[0]).to.include({ action: 'events', rows: 2, status: 0 });
      expect(cliTrail[0].query).to.deep.equal(['events', '--db', db, '--user', 'bob', '--limit', '2', '--output', 'json']);
    });

    it('records a flood of refused calls as a few rows with counts, bounded, and never a credential in the query', async () => {
      const flood = `?token=Leaked-Token-Value-77&password=hunter2&q=${'x'.repeat(5000)}`;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const refusedEvents = (trail: any[]) => trail.filter((e) => e.actor === 'no token' && e.action === 'GET /api/v1/flood');
      const before = refusedEvents(await allPages('/self-audit?limit=50&channel=api', 'admin'));
      for (let i = 0; i < 300; i++) await fetch(`${server.url}/api/v1/flood${flood}`);
      const trail = await allPages('/self-audit?limit=50&channel=api', 'admin');
      const refusedRows = refusedEvents(trail);
      expect(refusedRows.length - before.length).to.be.at.most(2); // one row a minute
      expect(refusedRows.reduce((n, e) => n + e.count, 0) - before.reduce((n, e) => n + e.count, 0)).to.equal(300);
      const text = JSON.stringify(trail);
      expect(text).to.not.contain('Leaked-Token-Value-77');
      expect(text).to.not.contain('hunter2');
      expect(refusedRows[0]!.query).to.include({ token: '(not recorded)', password: '(not recorded)' });
      expect(refusedRows[0]!.query.q.length).to.equal(200);
    });
  });
});

describe('query API start rules and the CLI against a server', function () {
  const dir = tempDir();
  const db = join(dir, 'kubetrail.db');

  it('refuses a non-loopback listen without tokens unless --insecure-no-auth, and warns', async () => {
    const refused = await runCli(['serve', '--db', db, '--listen', '0.0.0.0:0'], cliEnv());
    expect(refused.status).to.equal(2);
    expect(refused.stderr).to.contain('the query API has no tokens (api.tokens)').and.contain('--insecure-no-auth');
    // Without the api service there is nothing to protect.
    const ingestOnly = await startServe(['--db', db, '--services', 'ingest']);
    ingestOnly.child.kill('SIGTERM');
    const insecure = spawn(process.execPath, [CLI, 'serve', '--db', db, '--listen', '0.0.0.0:0', '--insecure-no-auth'], { env: cliEnv() });
    const log = await new Promise<string>((resolve) => {
      let buf = '';
      insecure.stderr.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('kubetrail serving')) resolve(buf);
      });
    });
    insecure.kill('SIGTERM');
    expect(log).to.contain('WITHOUT authentication on a non-loopback address');
  });

  it('answers local clients on loopback without tokens, warning at start', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--db', db, '--listen', '127.0.0.1:0'], { env: cliEnv() });
    try {
      const log = await new Promise<string>((resolve) => {
        let buf = '';
        child.stderr.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('kubetrail serving')) resolve(buf);
        });
      });
      expect(log).to.contain('it answers every local client as admin');
      const url = /"url":"(http:[^"]+)"/.exec(log)![1]!;
      expect((await fetch(`${url}/api/v1/events`)).status).to.equal(200);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('gives the CLI the same answers from a server (--server, --token) as from the local database', async () => {
    const token = 'cli-analyst-token-0123456789';
    const file = join(dir, 'remote.yaml');
    writeFileSync(file, ['api:', '  tokens:', '    - name: cli', '      role: analyst', `      sha256: ${hashToken(token)}`].join('\n'));
    const remoteDb = join(dir, 'remote.db');
    const server = await serve(loadConfig({ file, env: {}, overrides: { databasePath: remoteDb, listen: '127.0.0.1:0' } }), ['ingest', 'api'], createLogger('silent'));
    try {
      const items = fixtureEvents();
      await fetch(`${server.url}/audit/webhook/prod`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(eventList(items)) });
      const args = ['--user', 'alice', '--code', '200-299', '--source-ip', '10.0.0.0/8', '--output', 'json'];
      const local = await runCli(['events', '--db', remoteDb, ...args], cliEnv());
      const remote = await runCli(['events', '--server', server.url, '--token', token, ...args], cliEnv());
      expect(remote.status, remote.stderr).to.equal(0);
      expect(JSON.parse(remote.stdout)).to.deep.equal(JSON.parse(local.stdout));
      expect(JSON.parse(remote.stdout).length).to.be.greaterThan(5);
      const history = await runCli(['history', 'pods/web-1', '-n', 'team-a', '--server', server.url, '--output', 'json'], cliEnv({ KUBETRAIL_TOKEN: token }));
      expect(history.status, history.stderr).to.equal(0);
      expect(JSON.parse(history.stdout).map((r: { name: string }) => r.name)).to.include('web-1');
      const alerts = await runCli(['alerts', '--server', server.url, '--token', token, '--output', 'json'], cliEnv());
      expect(alerts.status, alerts.stderr).to.equal(0);
      const out = await runCli(['breakglass', 'checkout', '--server', server.url, '--token', token, '--account', 'kubernetes-admin', '--person', 'erin', '--approved-by', 'frank', '--reason', 'restore', '--ticket', 'CHG-9', '--for', '1h', '--output', 'json'], cliEnv());
      expect(out.status, out.stderr).to.equal(0);
      const checkout = JSON.parse(out.stdout)[0] as { id: number; person: string };
      expect(checkout.person).to.equal('erin');
      const listed = await runCli(['breakglass', 'list', '--server', server.url, '--token', token, '--output', 'json'], cliEnv());
      expect(JSON.parse(listed.stdout).map((c: { id: number }) => c.id)).to.deep.equal([checkout.id]);
      const closed = await runCli(['breakglass', 'close', String(checkout.id), '--server', server.url, '--token', token, '--output', 'json'], cliEnv());
      expect(JSON.parse(closed.stdout)[0].closed).to.be.a('string');
      const wrong = await runCli(['events', '--server', server.url, '--token', 'nope-nope-nope-nope'], cliEnv());
      expect(wrong.status).to.equal(2);
      expect(wrong.stderr).to.contain('answered 401').and.contain('not one kubetrail knows');
      const badFlag = await runCli(['events', '--server', server.url, '--token', token, '--code', 'teapot'], cliEnv());
      expect(badFlag.status).to.equal(2);
      expect(badFlag.stderr).to.contain('--code: expected an HTTP status');
    } finally {
      await server.stop();
    }
  });

  it('prints a new token and the configuration entry that holds only its hash', async () => {
    const r = await runCli(['token', 'create', '--name', 'soc-jane', '--role', 'viewer'], cliEnv());
    expect(r.status, r.stderr).to.equal(0);
    const token = /: (kt_\S+)/.exec(r.stdout)![1]!;
    expect(r.stdout).to.contain(`sha256: ${hashToken(token)}`).and.contain('role: viewer');
  });
});
