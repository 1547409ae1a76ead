import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { InputError, errorMessage } from '../errors.js';
import { mergeInto } from './loadFiles.js';
import { parseObjects, type ParsedObjects } from './parseObjects.js';
import { emptyState, type ApiResourceInfo } from './types.js';

export interface ClusterSource {
  /** A kubeconfig file (default: KUBECONFIG, then ~/.kube/config). */
  kubeconfig?: string;
  context?: string;
  /** Use the pod's service account (running inside the cluster). */
  inCluster?: boolean;
}

export interface ClusterObjects extends ParsedObjects {
  /** `context NAME (https://server)`: what was read. */
  source: string;
}

/** The lists read, each paged through: the four RBAC kinds and ServiceAccounts. */
const LISTS = [
  '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  '/apis/rbac.authorization.k8s.io/v1/roles',
  '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  '/api/v1/serviceaccounts',
];
const PAGE = 500;

/**
 * The RBAC objects and API discovery of a live cluster, read with the credentials of a
 * kubeconfig context (or in-cluster): needs list on the four RBAC kinds and serviceaccounts.
 */
export async function loadCluster(src: ClusterSource): Promise<ClusterObjects> {
  // Loaded here, not at start: the client takes over half a second to load, and only this needs it.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (src.inCluster) kc.loadFromCluster();
    else if (src.kubeconfig) kc.loadFromFile(src.kubeconfig);
    else kc.loadFromDefault();
    if (src.context) {
      if (!kc.getContextObject(src.context)) throw new InputError(`--context ${src.context}: no such context in the kubeconfig (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      kc.setCurrentContext(src.context);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read the kubeconfig: ${errorMessage(err)}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new InputError('the kubeconfig has no current cluster: pass --context or --kubeconfig');
  const get = (path: string) => getJson(kc, cluster.server, path);

  const out: ParsedObjects = { state: emptyState(), skipped: {}, problems: [] };
  for (const path of LISTS) {
    let cont = '';
    let page = 1;
    do {
      const body = await get(`${path}?limit=${PAGE}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      mergeInto(out, parseObjects(JSON.stringify(body), `${path} page ${page++}`), path);
      const meta = (body as { metadata?: { continue?: unknown } }).metadata;
      cont = typeof meta?.continue === 'string' ? meta.continue : '';
    } while (cont);
  }
  out.state.discovery = await discover(get);
  return { ...out, source: `context ${kc.getCurrentContext()} (${cluster.server})` };
}

/** API discovery: the resources of the core group and of each group's preferred version. */
export async function discover(get: (path: string) => Promise<unknown>): Promise<ApiResourceInfo[]> {
  const out: ApiResourceInfo[] = [];
  const add = (apiGroup: string, version: string, list: unknown) => {
    for (const r of (list as { resources?: Record<string, unknown>[] }).resources ?? []) {
      if (typeof r.name !== 'string') continue;
      out.push({
        apiGroup,
        version,
        resource: r.name,
        kind: typeof r.kind === 'string' ? r.kind : '',
        namespaced: r.namespaced === true,
        verbs: Array.isArray(r.verbs) ? r.verbs.filter((v): v is string => typeof v === 'string') : [],
        shortNames: Array.isArray(r.shortNames) ? r.shortNames.filter((v): v is string => typeof v === 'string') : [],
        singularName: typeof r.singularName === 'string' ? r.singularName : '',
      });
    }
  };
  add('', 'v1', await get('/api/v1'));
  const groups = (await get('/apis')) as { groups?: { name?: string; preferredVersion?: { version?: string } }[] };
  for (const g of groups.groups ?? []) {
    const version = g.preferredVersion?.version;
    if (typeof g.name === 'string' && typeof version === 'string') add(g.name, version, await get(`/apis/${g.name}/${version}`));
  }
  return out;
}

async function getJson(kc: KubeConfig, server: string, path: string): Promise<unknown> {
  // The server may have a path of its own (an API proxy): the request path goes after it.
  const url = new URL(server.replace(/\/+$/, '') + path);
  const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' }, timeout: 30_000 };
  try {
    await kc.applyToHTTPSOptions(options);
  } catch (err) {
    throw new InputError(`cannot use the credentials of context ${kc.getCurrentContext()} for ${url.origin}: ${errorMessage(err)}`);
  }
  const plain = url.protocol === 'http:';
  if (plain) delete options.agent;
  return new Promise((resolve, reject) => {
    const req = (plain ? http : https).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          const hint = res.statusCode === 401 || res.statusCode === 403 ? ': the credentials need get/list on the RBAC kinds, serviceaccounts and discovery' : '';
          reject(new InputError(`GET ${url.pathname} on ${url.origin}: HTTP ${res.statusCode}${hint} (${text.slice(0, 200).trim()})`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new InputError(`GET ${url.pathname} on ${url.origin}: not JSON (${errorMessage(err)})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err) => reject(new InputError(`cannot reach ${url.origin} (${errorMessage(err)})`)));
    req.end();
  });
}
