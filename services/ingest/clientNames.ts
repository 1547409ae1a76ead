import type { PeerCertificate } from 'node:tls';

/** The names a client certificate answers to: its subject CN and its DNS subject alternative names. */
export function certificateNames(cert: PeerCertificate): string[] {
  const cn = cert.subject?.CN;
  const names = Array.isArray(cn) ? [...cn] : cn ? [cn] : [];
  for (const san of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(san);
    if (m) names.push(m[1]!.trim());
  }
  return names;
}

/** Whether `name` matches `pattern`, where `*` stands for any run of characters (`kube-apiserver*`, `*.control-plane.example`). */
export function nameMatches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(name);
}

/**
 * Why a verified client certificate may not send for `cluster`, or null when it may: its names
 * must match webhook.allowedClientNames (when set), and the clusters webhook.clientClusters maps
 * its name to (when it maps it) must include `cluster`. A CA that signs node or user
 * certificates as well signs nothing the webhook takes unless named here.
 */
export function clientRefusal(names: readonly string[], cluster: string, allowed: readonly string[], clusters: Readonly<Record<string, readonly string[]>>): string | null {
  const shown = names.join(', ') || '(no name)';
  if (allowed.length > 0 && !allowed.some((p) => names.some((n) => nameMatches(p, n)))) {
    return `the client certificate ${shown} is not one webhook.allowedClientNames lets send audit events`;
  }
  const mapped = Object.entries(clusters).find(([p]) => names.some((n) => nameMatches(p, n)));
  if (mapped && !mapped[1].includes(cluster)) return `the client certificate ${shown} may send for ${mapped[1].join(', ')} (webhook.clientClusters), not for cluster ${cluster}`;
  return null;
}
