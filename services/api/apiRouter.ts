import type { Clock } from '../../shared/clock.js';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { findToken, roleAtLeast, type ApiToken, type Role } from '../../shared/access.js';
import type { Config } from '../../shared/config.js';
import { ConflictError, ForbiddenError, InputError, NotFoundError, StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { OpenQueryStore, QueryStore } from '../../shared/storage/port.js';
import type { SelfAuditEntry } from '../../shared/storage/sqlite/tables/selfAudit.js';
import { alertRoutes } from './alertRoutes.js';
import { eventRoutes } from './eventRoutes.js';
import { identityRoutes } from './identityRoutes.js';
import { openApiDocument } from './openapi.js';
import { readList, readPaging, type ListRequest, type Paging } from './params.js';
import { rbacRoutes } from './rbacRoutes.js';
import { statusRoutes } from './statusRoutes.js';

/** Who called: a configured token, or anyone on loopback when no token is configured. */
export interface Caller {
  name: string;
  role: Role;
}

/** What a handler may use. */
export interface ApiContext {
  config: Readonly<Config>;
  /** The server's store: short reads and the few writes (acks, checkouts). */
  store: QueryStore;
  metrics?: Metrics;
  now(): number;
}

/** A request as a handler sees it: parsed, authorized, with the rows it returned counted for the self-audit. */
export interface Call {
  req: Request;
  res: Response;
  caller: Caller;
  /** Paging of a list endpoint (limit, order, cursor, format); exports need the analyst role. */
  paging(params: Record<string, string | undefined>): Paging;
  /** The same, with the cursor decoded (isPosition checks what it holds). */
  list<P>(params: Record<string, string | undefined>, isPosition: (p: unknown) => p is P): ListRequest<P>;
  /** The store to read from: the server's for a JSON page, a reader of its own for a stream. */
  store(paging?: Paging): QueryStore;
  rows: number | null;
}

export type Handler = (call: Call, ctx: ApiContext) => unknown;
export interface Route {
  method: 'get' | 'post';
  path: string;
  role: Role;
  handle: Handler;
}

export interface ApiOptions {
  config: Readonly<Config>;
  store: QueryStore;
  /** A read-only store of its own, for a stream that reads one snapshot while ingest goes on. */
  openReader(): OpenQueryStore;
  /** Records a call in the self-audit; a refused one (no or unknown token) compactly. */
  recordCall(e: SelfAuditEntry): void;
  recordRefusal(e: { actor: string; source: string | null; action: string; status: number; query?: unknown }): void;
  log: Logger;
  metrics?: Metrics;
  clock: Clock;
  /** Every request is answered as this caller (no tokens configured: loopback only, see serve). */
  noAuth: boolean;
}

/** The query API, mounted at /api/v1: authentication, the role each route needs, the self-audit of every call. */
export function createApiRouter(options: ApiOptions): Router {
  const { config, store, log } = options;
  const record = options.recordCall;
  const refused = options.recordRefusal;
  const ctx: ApiContext = { config, store, metrics: options.metrics, now: options.clock };
  const router = express.Router();
  const routes: Route[] = [...eventRoutes(), ...identityRoutes(), ...alertRoutes(), ...rbacRoutes(), ...statusRoutes()];
  const document = openApiDocument();

  router.use(express.json({ limit: '64kb' }));
  router.use((req, res, next) => {
    // Audit answers are never cached by a browser or proxy, nor sniffed into another type.
    res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    const started = process.hrtime.bigint();
    res.locals.caller = null;
    res.on('finish', () => {
      const caller = res.locals.caller as Caller | null;
      try {
        if (caller === null && res.statusCode >= 400) {
          refused({ actor: res.locals.presented ? 'unknown token' : 'no token', source: req.socket.remoteAddress ?? null, action: `${req.method} ${req.baseUrl}${req.path}`, status: res.statusCode, query: Object.keys(req.query).length ? req.query : undefined });
          return;
        }
        record({
          channel: 'api',
          actor: caller?.name ?? (res.locals.presented ? 'unknown token' : 'no token'),
          role: caller?.role ?? null,
          source: req.socket.remoteAddress ?? null,
          action: `${req.method} ${req.baseUrl}${req.path}`,
          query: Object.keys(req.query).length ? req.query : undefined,
          rows: (res.locals.rows as number | null | undefined) ?? null,
          status: res.statusCode,
          detail: (res.locals.error as string | undefined) ?? null,
        });
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'cannot record an API call in the self-audit');
      }
      log.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'api call');
    });
    next();
  });
  router.use((req, res, next) => {
    if (options.noAuth) {
      res.locals.caller = { name: 'loopback (no tokens configured)', role: 'admin' } satisfies Caller;
      return next();
    }
    const m = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '');
    res.locals.presented = m !== null;
    const token: ApiToken | null = m ? findToken(config.api.tokens, m[1]!) : null;
    if (!token) {
      const error = m ? 'the bearer token is not one kubetrail knows (api.tokens); ask an admin for a token' : 'this API needs a bearer token: send Authorization: Bearer <token>';
      res.locals.error = error;
      res.status(401).set('WWW-Authenticate', 'Bearer realm="kubetrail"').json({ error });
      return;
    }
    res.locals.caller = { name: token.name, role: token.role } satisfies Caller;
    next();
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  // Who the token is, and what it may call: the web console shows only what the role allows.
  router.get('/session', (_req, res) => {
    const caller = res.locals.caller as Caller;
    const allowed = routes.filter((r) => roleAtLeast(caller.role, r.role)).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    res.json({ name: caller.name, role: caller.role, routes: allowed, exports: roleAtLeast(caller.role, 'analyst'), bodies: roleAtLeast(caller.role, 'analyst') });
  });
  for (const route of routes) {
    router[route.method](route.path, (req, res, next) => {
      const caller = res.locals.caller as Caller;
      if (!roleAtLeast(caller.role, route.role)) {
        const error = `${route.method.toUpperCase()} ${req.baseUrl}${route.path} needs the ${route.role} role; token '${caller.name}' has ${caller.role}`;
        res.locals.error = error;
        res.status(403).json({ error });
        return;
      }
      const readers: OpenQueryStore[] = [];
      const call: Call = {
        req,
        res,
        caller,
        rows: null,
        paging: (params) => {
          const p = readPaging(req, params, config.api.maxPageSize);
          if (p.format !== 'json' && !roleAtLeast(caller.role, 'analyst')) {
            throw new ForbiddenError(`format=${p.format} (an export) needs the analyst role; token '${caller.name}' has ${caller.role}`);
          }
          return p;
        },
        list: (params, isPosition) => readList(req, params, call.paging(params), isPosition),
        store: (paging) => {
          if (!paging || paging.format === 'json') return store;
          const reader = options.openReader();
          readers.push(reader);
          return reader.store;
        },
      };
      res.on('close', () => {
        for (const reader of readers) reader.close();
      });
      Promise.resolve()
        .then(() => route.handle(call, ctx))
        .then((body) => {
          res.locals.rows = call.rows;
          if (body !== undefined && !res.headersSent) res.json(body);
        })
        .catch(next);
    });
  }
  router.use((req, res) => {
    res.locals.error = 'no such endpoint';
    res.status(404).json({ error: `no such endpoint: ${req.method} ${req.baseUrl}${req.path} (see ${req.baseUrl}/openapi.json)` });
  });
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const [status, message] = statusOf(err);
    res.locals.error = message;
    if (status >= 500) log.error({ err: errorMessage(err) }, 'api request failed');
    if (res.headersSent) res.destroy();
    else res.status(status).json({ error: message });
  });
  return router;
}

function statusOf(err: unknown): [number, string] {
  if (err instanceof InputError) return [400, err.message];
  if (err instanceof ForbiddenError) return [403, err.message];
  if (err instanceof NotFoundError) return [404, err.message];
  if (err instanceof ConflictError) return [409, err.message];
  if (err instanceof StoreUnavailableError) return [503, err.message];
  // express.json(): a body that is not JSON, or too large.
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.parse.failed') return [400, `the request body is not valid JSON: ${e.message}`];
  if (e.type === 'entity.too.large') return [413, 'the request body is larger than 64 KiB'];
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return [e.status, e.message ?? 'bad request'];
  return [500, 'internal error; the server log has the details'];
}
