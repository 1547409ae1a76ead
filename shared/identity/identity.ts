import type { UserInfo } from '../audit/types.js';

/**
 * Who holds a credential, read from an audit event's UserInfo (spec/k8s-audit.md §8.2, §8.4,
 * §9.1). Pure: the same UserInfo always gives the same Identity.
 */
export type IdentityKind = 'human' | 'serviceaccount' | 'node' | 'control-plane' | 'anonymous' | 'unauthenticated';

/**
 * The credential presented:
 * - `client-certificate`: X509SHA256=… (cannot be revoked before it expires);
 * - `bound-token`: a service-account token with a JTI or bound to a pod or node;
 * - `legacy-token`: a secret-based service-account token (never expires);
 * - `bootstrap-token`: a kubeadm bootstrap token;
 * - `jwt`: an OIDC/JWT token with a JTI;
 * - `unknown`: nothing in the event says which (certificates before 1.32, static tokens, …).
 */
export type CredentialKind = 'client-certificate' | 'bound-token' | 'legacy-token' | 'bootstrap-token' | 'jwt' | 'unknown';

export interface Credential {
  kind: CredentialKind;
  /** `authentication.kubernetes.io/credential-id` as received (X509SHA256=… or JTI=…). */
  id?: string;
  /** The pod and node a bound service-account token is tied to. */
  boundPod?: string;
  boundNode?: string;
}

/** A cloud principal behind a username (EKS IAM principal, GKE Google service account). */
export interface CloudPrincipal {
  provider: 'aws' | 'gcp';
  /** The most specific id: the caller ARN (EKS) or the service account's e-mail (GKE). */
  principal: string;
  /** EKS: account, IAM role or IAM user, and STS session name. */
  account?: string;
  role?: string;
  iamUser?: string;
  session?: string;
  accessKeyId?: string;
}

export interface Identity {
  username: string;
  kind: IdentityKind;
  groups: readonly string[];
  /** Service accounts: namespace and name. */
  serviceAccount?: { namespace: string; name: string };
  /** Nodes: the node name. */
  node?: string;
  credential: Credential;
  cloud?: CloudPrincipal;
  /**
   * What names this identity best, for grouping actions: the caller ARN for an EKS principal
   * (the username is whatever the aws-auth mapping says, often shared), else the username.
   */
  key: string;
}

export const CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';
export const POD_NAME = 'authentication.kubernetes.io/pod-name';
export const NODE_NAME = 'authentication.kubernetes.io/node-name';
/** Audit annotation the apiserver adds when a secret-based service-account token is used (1.26+). */
export const LEGACY_TOKEN_ANNOTATION = 'authentication.k8s.io/legacy-token';

const SA_PREFIX = 'system:serviceaccount:';
const NODE_PREFIX = 'system:node:';
const BOOTSTRAP_PREFIX = 'system:bootstrap:';
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Control-plane components that authenticate as themselves (not as service accounts). */
const COMPONENTS = new Set([
  'system:apiserver',
  'system:kube-controller-manager',
  'system:kube-scheduler',
  'system:kube-proxy',
  'system:kube-aggregator',
  'kube-apiserver-kubelet-client',
]);

/**
 * The managed providers' own control-plane users: EKS's `eks:*` (eks:node-manager,
 * eks:addon-manager, …), GKE's `system:gke-*` (system:gke-master-healthcheck, …) and AKS's
 * `aksService`. They act for the provider, not for a person of the cluster.
 */
const MANAGED_CONTROL_PLANE = /^(eks:|system:gke-)|^aksService$/;

/** `system:serviceaccount:NS:NAME` as the apiserver splits it (SplitUsername), else null. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | null {
  if (!username.startsWith(SA_PREFIX)) return null;
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2) return null;
  const [namespace, name] = parts as [string, string];
  if (!DNS1123_LABEL.test(namespace) || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) return null;
  return { namespace, name };
}

function first(extra: UserInfo['extra'], key: string): string | undefined {
  const v = extra?.[key];
  return Array.isArray(v) && typeof v[0] === 'string' && v[0] !== '' ? v[0] : undefined;
}

/** The identity of a user as a store keeps it (principals.json); a row that is not JSON has the identity of no user. */
export function identityOfStored(json: string): Identity {
  let user: UserInfo | undefined;
  try {
    user = JSON.parse(json) as UserInfo;
  } catch {
    user = undefined;
  }
  return identityOf(user);
}

/**
 * The identity of a UserInfo. `annotations` are the event's: the legacy-token annotation is
 * the only sign of a secret-based token.
 */
export function identityOf(user: UserInfo | undefined, annotations?: Readonly<Record<string, string>>): Identity {
  const username = typeof user?.username === 'string' ? user.username : '';
  const groups = Array.isArray(user?.groups) ? user.groups.filter((g): g is string => typeof g === 'string') : [];
  const extra = user?.extra;
  const credential = credentialOf(username, extra, annotations);
  const cloud = cloudPrincipalOf(username, extra);
  const base = { username, groups, credential, ...(cloud ? { cloud } : {}), key: cloud?.provider === 'aws' ? cloud.principal : username };
  if (username === '') return { ...base, kind: 'unauthenticated' };
  if (username === 'system:anonymous') return { ...base, kind: 'anonymous' };
  const sa = parseServiceAccountUsername(username);
  if (sa) return { ...base, kind: 'serviceaccount', serviceAccount: sa };
  if (username.startsWith(NODE_PREFIX) && username.length > NODE_PREFIX.length) {
    return { ...base, kind: 'node', node: username.slice(NODE_PREFIX.length) };
  }
  // A bootstrap token joins a node to the cluster: a node credential in all but name.
  if (username.startsWith(BOOTSTRAP_PREFIX)) return { ...base, kind: 'node' };
  if (COMPONENTS.has(username) || MANAGED_CONTROL_PLANE.test(username)) return { ...base, kind: 'control-plane' };
  if (cloud?.provider === 'gcp' && cloud.principal.endsWith('.gserviceaccount.com')) return { ...base, kind: 'serviceaccount' };
  return { ...base, kind: 'human' };
}

function credentialOf(username: string, extra: UserInfo['extra'], annotations?: Readonly<Record<string, string>>): Credential {
  const id = first(extra, CREDENTIAL_ID);
  const boundPod = first(extra, POD_NAME);
  const boundNode = first(extra, NODE_NAME);
  const bound = { ...(boundPod ? { boundPod } : {}), ...(boundNode ? { boundNode } : {}) };
  if (id?.startsWith('X509SHA256=')) return { kind: 'client-certificate', id };
  const isSa = username.startsWith(SA_PREFIX);
  if (isSa && annotations?.[LEGACY_TOKEN_ANNOTATION] !== undefined) return { kind: 'legacy-token', ...(id ? { id } : {}) };
  if (id?.startsWith('JTI=')) return { kind: isSa ? 'bound-token' : 'jwt', id, ...bound };
  if (isSa && (boundPod || boundNode)) return { kind: 'bound-token', ...bound };
  if (username.startsWith(BOOTSTRAP_PREFIX)) return { kind: 'bootstrap-token' };
  return { kind: 'unknown', ...(id ? { id } : {}), ...bound };
}

const STS_ASSUMED_ROLE = /^arn:aws[\w-]*:sts::(\d+):assumed-role\/(.+)\/([^/]+)$/;
const IAM_PRINCIPAL = /^arn:aws[\w-]*:iam::(\d+):(user|role)\/(?:.*\/)?([^/]+)$/;
const EMAIL = /^[^@\s:]+@[^@\s:]+\.[^@\s:]+$/;

/** EKS: the IAM principal in `user.extra`; GKE: a Google service-account e-mail. */
function cloudPrincipalOf(username: string, extra: UserInfo['extra']): CloudPrincipal | undefined {
  const arn = first(extra, 'arn');
  if (arn?.startsWith('arn:aws')) {
    const session = first(extra, 'sessionName');
    const accessKeyId = first(extra, 'accessKeyId');
    const assumed = STS_ASSUMED_ROLE.exec(arn);
    const iam = assumed ? null : IAM_PRINCIPAL.exec(arn);
    return {
      provider: 'aws',
      principal: arn,
      ...(assumed ? { account: assumed[1]!, role: assumed[2]!, session: session ?? assumed[3]! } : {}),
      ...(iam ? { account: iam[1]!, [iam[2] === 'user' ? 'iamUser' : 'role']: iam[3]! } : {}),
      ...(!assumed && session ? { session } : {}),
      ...(accessKeyId ? { accessKeyId } : {}),
    };
  }
  // A Google service account (GKE): a machine identity. A plain e-mail username could come from
  // any OIDC provider, so it names a person (selfDescribedPerson), not a cloud.
  if (EMAIL.test(username) && username.endsWith('.gserviceaccount.com')) return { provider: 'gcp', principal: username };
  return undefined;
}

/** A person-like name an identity carries itself: an e-mail username, or an EKS session name that is one. */
export function selfDescribedPerson(identity: Identity): string | undefined {
  if (identity.kind !== 'human') return undefined;
  if (identity.cloud?.session && EMAIL.test(identity.cloud.session)) return identity.cloud.session;
  if (EMAIL.test(identity.username)) return identity.username;
  return undefined;
}

/**
 * The identity as one event shows it: a secret-based token is known only from the event's
 * legacy-token annotation, so an identity derived from the UserInfo alone (and cached by it)
 * is corrected here.
 */
export function asUsedIn(identity: Identity, annotations: Readonly<Record<string, string>> | undefined): Identity {
  if (identity.kind !== 'serviceaccount' || annotations?.[LEGACY_TOKEN_ANNOTATION] === undefined || identity.credential.kind === 'legacy-token') return identity;
  const { id } = identity.credential;
  return { ...identity, credential: { kind: 'legacy-token', ...(id ? { id } : {}) } };
}
