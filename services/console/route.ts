/** Where the console is: the page and its parameters live in the URL's hash, so every view can be bookmarked and shared. */

export interface Route {
  page: string;
  /** Path segments after the page, decoded: #/identity/alice → ['alice']. */
  rest: string[];
  params: Record<string, string>;
}

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = text.split('?', 2);
  const [page = '', ...rest] = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: page || 'overview', rest, params: Object.fromEntries(new URLSearchParams(search)) };
}

export function href(page: string, rest: string[] = [], params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const search = q.toString();
  return `#/${[page, ...rest].map(encodeURIComponent).join('/')}${search ? `?${search}` : ''}`;
}

export function go(page: string, rest: string[] = [], params: Record<string, string | undefined> = {}): void {
  location.hash = href(page, rest, params);
}
