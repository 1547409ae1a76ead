/**
 * The audit.k8s.io/v1 Event as kubetrail normalizes it (spec/k8s-audit.md §2). Older versions
 * are converted to this shape; fields kubetrail does not know are kept as they came.
 */

export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type Stage = (typeof STAGES)[number];

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type Level = (typeof LEVELS)[number];

export const API_VERSIONS = ['audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1'] as const;
export type AuditApiVersion = (typeof API_VERSIONS)[number];

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  [field: string]: unknown;
}

export interface ObjectReference {
  resource?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
  [field: string]: unknown;
}

export interface ResponseStatus {
  code?: number;
  [field: string]: unknown;
}

/** A normalized event: always `kind: Event`, `apiVersion: audit.k8s.io/v1`. */
export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: Level;
  auditID: string;
  stage: Stage;
  requestURI: string;
  verb: string;
  user: UserInfo;
  impersonatedUser?: UserInfo;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  responseStatus?: ResponseStatus;
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** One event read from some input, with where it came from. */
export interface ParsedEvent {
  event: AuditEvent;
  /** The version the input was written in (the event itself is always v1 after normalizing). */
  sourceVersion: AuditApiVersion;
  /** True when the input carried no apiVersion and the version was inferred (§1). */
  versionInferred: boolean;
  /** Where in the input: `file:line`, `item 3`, `file:line item 3`. */
  position: string;
  /** requestReceivedTimestamp and stageTimestamp in microseconds since the epoch. */
  receivedAt: number;
  stageAt: number;
  /** The cluster a managed provider's record names (shared/audit/cloud), when it names one. */
  cluster?: string;
}

/** Input that is not a usable event, kept for the quarantine with its reason. */
export interface RejectedInput {
  position: string;
  reason: string;
  raw: string | Uint8Array;
}

/** What a parser returns for one unit of input (a line, a body, a message). */
export interface ParseOutcome {
  events: ParsedEvent[];
  rejected: RejectedInput[];
  /** Records of a provider's log that are not audit input (another log type, a control message): not stored, not quarantined. */
  skipped?: number;
}
