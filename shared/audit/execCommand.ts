/**
 * The command line of an exec request, from the `command=` parameters of its requestURI (one
 * per argument, in order), what kind of command it is, and the same URI with the secrets typed
 * into the arguments redacted. Pure.
 *
 * Redacted before anything is stored or alerted on (README "Exec forensics"):
 * - `NAME=value` and `--name=value` where the name holds password, passwd, pwd, token, secret,
 *   apikey / api-key / api_key, access-key, private-key or credential(s), in any case;
 * - the argument after `--password`, `--pass`, `--token`, `--secret`, `--api-key`,
 *   `--client-secret`, `--access-key`, `--secret-key` given on their own;
 * - mysql's attached `-pPASSWORD`;
 * - `Authorization: Bearer|Basic …` and `Bearer …` credentials (curl -H);
 * - the password of a URL (`scheme://user:password@host`).
 */

const SECRET_NAME = String.raw`[A-Za-z0-9_.-]*(?:password|passwd|pwd|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)[A-Za-z0-9_.-]*`;
/** `NAME=value` or `--name=value`, anywhere in an argument (a `sh -c` script holds many). */
const ASSIGNED = new RegExp(String.raw`((?:^|[\s'";&|(])-{0,2}${SECRET_NAME}=)([^\s'";&|)]+)`, 'gi');
const AUTH_HEADER = /(authorization:\s*(?:bearer|basic)\s+|\bbearer\s+)([^\s'"]+)/gi;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@'"]+:)([^\s@/'"]+)(@)/gi;
const SECRET_OPTION = /^--?(?:password|passwd|pass|pwd|token|secret|api-key|apikey|client-secret|access-key|secret-key)$/i;
const MYSQL = /(?:^|\/)mysql(?:dump|admin|import|show|check)?$/;

/** The arguments of an exec request (`command=` in its query), or null when it has none. */
export function execArgs(requestURI: string): string[] | null {
  const q = requestURI.indexOf('?');
  if (q < 0) return null;
  const args: string[] = [];
  for (const part of requestURI.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq) !== 'command') continue;
    args.push(decode(part.slice(eq + 1)));
  }
  return args.length > 0 ? args : null;
}

function decode(value: string): string {
  const plus = value.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    // A malformed escape: keep what is there rather than lose the argument.
    return plus;
  }
}

/** The arguments as one shell-quoted line, for rows and alerts. */
export function commandLine(args: readonly string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export const COMMAND_CLASSES = ['shell', 'download', 'reverse-shell', 'service-account-token', 'kubernetes-config', 'cloud-metadata'] as const;
export type CommandClass = (typeof COMMAND_CLASSES)[number];

const SHELLS = /(?:^|\/)(?:sh|bash|ash|dash|zsh|ksh|busybox|fish|pwsh|powershell)$/;
const REVERSE_SHELL = [
  /\/dev\/(?:tcp|udp)\//,
  /\b(?:nc|ncat|netcat)\b[^|;&]*\s-[a-z]*[ec]\b/,
  /\bsocat\b[^|;&]*\bexec:/i,
  /\bmkfifo\b[^|;&]*[|;&][^|;&]*\b(?:nc|ncat|netcat|telnet)\b/,
  /\bsocket\b[^\n]*\bconnect\b[^\n]*\b(?:subprocess|pty|dup2|exec)\b/,
  /\bbash\s+-i\b[^\n]*>&/,
];
const DOWNLOAD = /(?:^|[\s/;&|('"])(?:curl|wget|fetch|aria2c)(?:\s|$)/;

/** What kind of command this is: a shell, a download, a reverse shell, a read of credentials or the metadata service. */
export function classifyCommand(args: readonly string[]): CommandClass[] {
  const text = args.join(' ');
  const classes: CommandClass[] = [];
  if (args.some((a, i) => SHELLS.test(a) && (i === 0 || args[0] === 'env' || /(?:^|\/)(?:busybox|env|nice|nohup|timeout)$/.test(args[i - 1] ?? '')))) classes.push('shell');
  if (DOWNLOAD.test(` ${text}`)) classes.push('download');
  if (REVERSE_SHELL.some((r) => r.test(text))) classes.push('reverse-shell');
  if (text.includes('/var/run/secrets') || text.includes('/run/secrets/kubernetes.io')) classes.push('service-account-token');
  if (text.includes('/etc/kubernetes') || text.includes('/var/lib/kubelet') || /\bkubeconfig\b/i.test(text)) classes.push('kubernetes-config');
  if (/169\.254\.169\.254|metadata\.google\.internal|fd00:ec2::254|100\.100\.100\.200/.test(text)) classes.push('cloud-metadata');
  return classes;
}

/** The arguments with the secrets typed into them replaced by `mask(secret)`. */
export function redactArgs(args: readonly string[], mask: (secret: string) => string): string[] {
  const out = args.map((a) => a.replace(ASSIGNED, (_, k: string, v: string) => k + mask(v)).replace(AUTH_HEADER, (_, k: string, v: string) => k + mask(v)).replace(URL_PASSWORD, (_, a1: string, v: string, at: string) => a1 + mask(v) + at));
  for (let i = 0; i < out.length; i++) {
    if (SECRET_OPTION.test(args[i]!) && i + 1 < out.length) out[i + 1] = mask(args[i + 1]!);
    else if (MYSQL.test(args[0] ?? '') && /^-p.+/.test(args[i]!)) out[i] = `-p${mask(args[i]!.slice(2))}`;
  }
  return out;
}

/**
 * The requestURI with the secrets in its `command=` arguments redacted; the same string when
 * there is nothing to redact (other parameters are kept byte for byte).
 */
export function redactExecUri(requestURI: string, mask: (secret: string) => string): string {
  const args = execArgs(requestURI);
  if (!args) return requestURI;
  const redacted = redactArgs(args, mask);
  if (redacted.every((a, i) => a === args[i])) return requestURI;
  const q = requestURI.indexOf('?');
  let n = 0;
  const query = requestURI
    .slice(q + 1)
    .split('&')
    .map((part) => (part.startsWith('command=') ? `command=${encodeURIComponent(redacted[n++]!)}` : part))
    .join('&');
  return `${requestURI.slice(0, q)}?${query}`;
}
