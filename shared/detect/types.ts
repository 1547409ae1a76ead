import type { AuditEvent } from '../audit/types.js';
import type { Identity } from '../identity/identity.js';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The finding ids of spec/pci.md (and `admission-webhook-change`), one per rule. */
export const FINDING_IDS = [
  'system-masters-use',
  'non-rbac-allow',
  'break-glass-use',
  'anonymous-allowed',
  'anonymous-scanning',
  'default-serviceaccount-use',
  'non-revocable-credential',
  'legacy-sa-token',
  'impersonation',
  'pod-exec-attach-portforward',
  'secret-read',
  'rbac-escalation',
  'token-request',
  'csr-approval',
  'admission-webhook-change',
  'privileged-workload',
  'forbidden-burst',
  'system-namespace-workload',
  'untrusted-image-registry',
  'workload-container-patch',
  'exec-suspicious-command',
  'exec-kube-system',
  'secret-list-broad',
  'secret-read-burst',
  'secret-read-generic-client',
  'permission-enumeration',
  'resource-sweep',
  'aws-auth-change',
  'coredns-config-change',
  'events-deleted',
  'exposed-service',
  'kube-system-serviceaccount',
  'rbac-write-by-serviceaccount',
  'csr-creation',
  'rbac-change-then-use',
  'deny-address',
  'system-identity-public-address',
] as const;
export type RuleId = (typeof FINDING_IDS)[number];

/**
 * Break-glass use is stored as `attributed-break-glass` or `unattributed-break-glass`,
 * decided against the checkouts in the store when the action is written.
 */
export type AlertRuleId = Exclude<RuleId, 'break-glass-use'> | 'attributed-break-glass' | 'unattributed-break-glass' | SigmaRuleId;

/** A loaded Sigma rule's alerts: `sigma:` and the rule's id (sigma/sigmaRule.ts). */
export type SigmaRuleId = `sigma:${string}`;

/** What a finding is raised under: a built-in rule or a Sigma rule. */
export type FindingRuleId = RuleId | SigmaRuleId;

export const isSigmaRule = (id: string): id is SigmaRuleId => id.startsWith('sigma:');

/** One action as the rules see it: the event and who was behind it. */
export interface Action {
  event: AuditEvent;
  cluster: string;
  /** requestReceivedTimestamp, microseconds since the epoch. */
  receivedAt: number;
  /** Holds the credential (`user`). */
  actor: Identity;
  /** Whose permissions were used: `impersonatedUser`, else the actor. */
  effective: Identity;
  decision: 'allow' | 'forbid' | 'unknown';
}

/** What a rule says of one action. */
export interface Hit {
  /** Overrides the rule's severity for this hit (e.g. impersonating a privileged identity). */
  severity?: Severity;
  message: string;
  /**
   * Hits with the same rule and key within the throttle window are one alert with a count.
   * Default: the effective identity.
   */
  key?: string;
  /**
   * The object a controller made this one for (`Kind/namespace/name` of its controller
   * ownerReference): the store can follow it to the change a person made.
   */
  owner?: string;
}

export interface Rule {
  id: RuleId;
  title: string;
  severity: Severity;
  description: string;
  /** PCI DSS v4.0 requirements it bears on (spec/pci.md). */
  pci: readonly string[];
  /** The resources (objectRef.resource) it can fire on, when it is about some only: the engine skips it for others. */
  resources?: readonly string[];
  /** Pure over the action; `state` is this rule's own, for rules that count within a window. */
  detect(action: Action, context: DetectContext, state: RuleState): Hit | null;
}

/** Per-rule memory across actions (bursts, sequences): created by the engine, one per rule; its keys are bounded (ruleHelpers.ts). */
export type RuleState = Map<string, unknown>;

/** The settings with their lists compiled once, as the rules use them. */
export interface DetectContext extends DetectSettings {
  /** The entry of denyAddresses (or the deny file) that holds `ip`, or null. */
  deniedBy(ip: string): string | null;
  /** In trustedAddresses: not a public address to the rules, whatever its range. */
  trusted(ip: string): boolean;
  /** A known controller that writes RBAC (rbacControllers). */
  rbacController(username: string): boolean;
}

/** Detection settings (config `detections` and `breakGlass`), with their defaults filled in. */
export interface DetectSettings {
  breakGlass: { accounts: readonly string[]; groups: readonly string[] };
  /** Non-resource paths anonymous requests may reach (a trailing * matches any suffix). */
  anonymousAllowedPaths: readonly string[];
  bursts: {
    forbiddenCount: number;
    anonymousDeniedCount: number;
    windowSeconds: number;
    /** Distinct Secrets one identity reads within secretReadsWindowSeconds. */
    secretReads: number;
    secretReadsWindowSeconds: number;
    /** Distinct resource types one identity or address touches within windowSeconds. */
    distinctResources: number;
  };
  /** Linux capabilities whose addition makes a workload privileged. */
  dangerousCapabilities: readonly string[];
  /** Namespaces where only the control plane creates workloads. */
  systemNamespaces: readonly string[];
  /** Registries (or registry/path prefixes) images may come from; empty: the rule is off. */
  allowedRegistries: readonly string[];
  /** User-agent prefixes of generic HTTP clients (case-insensitive). */
  genericUserAgents: readonly string[];
  /** Service accounts (`*` wildcards) that write RBAC as their job. */
  rbacControllers: readonly string[];
  /** Addresses and CIDR blocks any request from which is an alert. */
  denyAddresses: readonly string[];
  /** A file of further addresses, one per line (`#` comments), reloaded when it changes. */
  denyAddressesFile?: string;
  /** Addresses and blocks that are not public to the rules (a NAT gateway, a VPN egress). */
  trustedAddresses: readonly string[];
  /** How long after a role or binding change the same identity's workload write or Secret read is a sequence. */
  sequenceSeconds: number;
}

/** A hit of a rule on an action, ready to store as (part of) an alert. */
export interface Finding {
  rule: FindingRuleId;
  severity: Severity;
  key: string;
  message: string;
  auditID: string;
  cluster: string;
  receivedAt: number;
  actor: string;
  effectiveUser: string;
  /** The actor's identity key (EKS caller ARN, else username): whose finding it is. */
  identity: string;
  owner?: string;
}
