import { InputError, errorMessage } from '../../shared/errors.js';

/** A kubetrail server to query instead of the local database (`--server URL --token T`). */
export interface Remote {
  server: string;
  token: string | undefined;
}

/** The remote the flags name, or null for the local database. `--token` falls back to KUBETRAIL_TOKEN. */
export function remoteFrom(flags: { server?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Remote | null {
  if (flags.server === undefined) {
    if (flags.token !== undefined) throw new InputError('--token needs --server URL (the local database takes no token)');
    return null;
  }
  if (!/^https?:\/\/[^\s/]+/.test(flags.server)) throw new InputError(`--server: expected an http:// or https:// URL, got '${flags.server}'`);
  return { server: flags.server.replace(/\/+$/, ''), token: flags.token ?? (env.KUBETRAIL_TOKEN || undefined) };
}

async function call(remote: Remote, method: string, path: string, params: Record<string, string | undefined>, body?: unknown, accept = 'application/json'): Promise<Response> {
  const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
  const url = `${remote.server}/api/v1${path}${query.size ? `?${query}` : ''}`;
  let res: Response;
  try {
    // A state change always says it sends JSON: the server refuses any other.
    const sends = method === 'GET' ? undefined : JSON.stringify(body ?? {});
    res = await fetch(url, {
      method,
      headers: { accept, ...(remote.token ? { authorization: `Bearer ${remote.token}` } : {}), ...(sends === undefined ? {} : { 'content-type': 'application/json' }) },
      body: sends,
    });
  } catch (err) {
    throw new Error(`cannot reach ${remote.server}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the text as it came
    }
    throw new InputError(`${remote.server} answered ${res.status}: ${message}`);
  }
  return res;
}

/** Every row of a list endpoint, streamed as NDJSON. */
export async function* remoteRows<T>(remote: Remote, path: string, params: Record<string, string | undefined>): AsyncIterable<T> {
  const res = await call(remote, 'GET', path, { ...params, format: 'ndjson' }, undefined, 'application/x-ndjson');
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as T;
    }
  }
  if (buf.trim()) yield JSON.parse(buf) as T;
}

/** One JSON answer. */
export async function remoteJson<T>(remote: Remote, method: 'GET' | 'POST', path: string, params: Record<string, string | undefined> = {}, body?: unknown): Promise<T> {
  return (await (await call(remote, method, path, params, body)).json()) as T;
}
