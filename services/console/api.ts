/** The query API as the console calls it: the token on every request, errors as the API words them. */

export type Role = 'viewer' | 'analyst' | 'admin';

export interface Session {
  name: string;
  role: Role;
  /** Endpoints this token may call, e.g. 'GET /alerts', 'POST /alerts/:id/ack'. */
  routes: string[];
  exports: boolean;
  bodies: boolean;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type Params = Record<string, string | undefined>;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const TOKEN_KEY = 'kubetrail.token';

/** The token lives in this tab's session storage: closing the tab signs out. */
export const savedToken = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : '';
}

async function request(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Response> {
  const headers: Record<string, string> = { accept };
  const token = savedToken.get();
  if (token) headers.authorization = `Bearer ${token}`;
  // A state change always says it sends JSON: the server refuses any other (cross-site forms).
  const sends = method !== 'GET' ? JSON.stringify(body ?? {}) : undefined;
  if (sends !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`api/v1${path}`, { method, headers, body: sends });
  } catch (err) {
    throw new ApiError(0, `kubetrail did not answer (${(err as Error).message}); is the server running?`);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = ((await res.json()) as { error?: string }).error ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, message);
  }
  return res;
}

export const api = {
  get: async <T>(path: string, params: Params = {}): Promise<T> => (await request('GET', path + query(params))).json() as Promise<T>,
  post: async <T>(path: string, body?: unknown): Promise<T> => (await request('POST', path, body)).json() as Promise<T>,
  /** Fetches a CSV or NDJSON export with the token and hands it to the browser as a download. */
  download: async (path: string, params: Params, format: 'csv' | 'ndjson', filename: string): Promise<void> => {
    const res = await request('GET', path + query({ ...params, format, cursor: undefined, limit: undefined }), undefined, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
    saveFile(await res.blob(), filename);
  },
};

export function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const can = (session: Session, route: string) => session.routes.includes(route);
