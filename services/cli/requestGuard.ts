import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';

/**
 * What every request must show before any route sees it, against a web page in the user's own
 * browser (kubetrail on loopback without tokens is reachable from it):
 * - a request with no credential of its own (no bearer token, no verified client certificate)
 *   must name this server in its Host header — an IP address, localhost, the listen host or one
 *   of server.allowedHosts — else 421: a DNS name rebound to 127.0.0.1 gets nothing;
 * - and must not come from another site: an Origin other than the server's own, or a
 *   Sec-Fetch-Site of another site, is refused (403);
 * - a request that changes state (the webhook, acknowledgements, checkouts) must say it sends
 *   JSON (Content-Type application/json, gzip-encoded or not), else 415: a page cannot send that
 *   across origins without a CORS preflight, which kubetrail never grants.
 */
export function createRequestGuard(options: { listenHost: string; allowedHosts: readonly string[]; tls: boolean }) {
  const named = [options.listenHost.toLowerCase(), 'localhost', ...options.allowedHosts.map((h) => h.toLowerCase())];
  const hostAllowed = (host: string) => isIpAddress(host) || named.some((n) => (n.startsWith('*.') ? host.endsWith(n.slice(1)) && host.length > n.length - 1 : host === n));
  const scheme = options.tls ? 'https' : 'http';

  return (req: Request, res: Response, next: NextFunction): void => {
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !sendsJson(req)) {
      res.status(415).json({ error: `${req.method} needs Content-Type: application/json (got '${req.headers['content-type'] ?? 'none'}')` });
      return;
    }
    const credentialed = /^Bearer\s+\S/i.test(req.headers.authorization ?? '') || (req.socket as TLSSocket).authorized === true;
    if (credentialed) return next();
    const host = req.headers.host ?? '';
    if (!hostAllowed(hostnameOf(host))) {
      res.status(421).json({ error: `this server is not '${host.slice(0, 100)}' (server.allowedHosts names the host names it answers to)` });
      return;
    }
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if ((origin !== undefined && origin !== `${scheme}://${host}`) || site === 'cross-site' || site === 'same-site') {
      res.status(403).json({ error: `requests from another site are refused (Origin ${String(origin ?? site).slice(0, 100)}); a client of its own sends a bearer token` });
      return;
    }
    next();
  };
}

function sendsJson(req: Request): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** The host name of a Host header, lower case, without its port or IPv6 brackets. */
function hostnameOf(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(':') && /^[0-9a-f:.]+$/.test(host));
}
