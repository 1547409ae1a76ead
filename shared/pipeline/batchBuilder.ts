import { redactExecUri } from '../audit/execCommand.js';
import type { Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import type { Finding } from '../detect/types.js';
import { PrincipalCache, type EventPrincipals, type Principal } from '../identity/principals.js';
import { attributeKey, countsAsUse, mayHaveStarted } from '../rbac/usageAttributes.js';
import {
  API_RESOURCE, F, OBJECT, RECORD_WIDTH, STRING, USAGE_ATOM, VALUE_DIMENSIONS, VERB, apiResourceKey, objectKey, tokenKey, type RecordBatch,
} from '../storage/recordBatch.js';
import { prepareEvent } from './prepareEvent.js';

/** Finds what the detections say of one event (shared/detect). */
export type FindingSource = (parsed: ParsedEvent, cluster: string, principals: EventPrincipals) => Finding[];

const ISSUED_CREDENTIAL = 'authentication.kubernetes.io/issued-credential-id';

/**
 * Collects one batch, event by event: each parsed event becomes a flat record at once, so the
 * parsed object can die young (holding a batch of parsed events costs memory and GC time).
 */
export class RecordBatchBuilder {
  private readonly batch: RecordBatch;
  private numbers = new Float64Array(RECORD_WIDTH * 1024);
  /** Each stored principal's index in batch.principals, by its stored JSON. */
  private readonly principalIndex = new Map<string, number>();
  /** Each token's index in batch.tokens, by its key (tokenKey). */
  private readonly tokenIndex = new Map<string, number>();
  /** Per dimension: each value's index in batch.values. */
  private readonly valueIndex = VALUE_DIMENSIONS.map(() => new Map<string, number>());

  constructor(
    private readonly redact: Redactor,
    cluster: string,
    source: string,
    private readonly detect?: FindingSource,
    private readonly principals = new PrincipalCache(),
  ) {
    this.batch = {
      cluster, source, size: 0, numbers: new Float64Array(0), auditIDs: [], queries: [], residuals: [], values: [], valueDimensions: [],
      principals: [], tokens: [], positions: [], requests: [], responses: [], rejected: [], findings: [], usageProbe: [], issued: [],
    };
  }

  /** Events and rejected input added so far. */
  get size(): number {
    return this.batch.size + this.batch.rejected.length;
  }

  addRejected(rejected: RejectedInput): void {
    this.batch.rejected.push(rejected);
  }

  addEvent(parsed: ParsedEvent): void {
    const e = parsed.event;
    // Secrets typed into an exec's arguments go before the detections and the store see them.
    if (e.objectRef?.subresource === 'exec') e.requestURI = redactExecUri(e.requestURI, this.redact);
    const actor = this.principals.of(e.user);
    const impersonated = e.impersonatedUser ? this.principals.of(e.impersonatedUser) : null;
    const users = { user: actor.json, impersonatedUser: impersonated?.json ?? null };
    const { record: r, request, response } = prepareEvent(parsed, this.batch.cluster, this.redact, users);
    const ar = r.apiResource;
    const o = r.object;
    const index = this.batch.size++;
    const uses = countsAsUse(r.stage);
    const atom = uses ? attributeKey(r.verb, ar && o && { apiGroup: ar.apiGroup, resource: ar.resource, subresource: ar.subresource, namespace: o.namespace, name: o.name }, r.path, r.query) : null;
    if ((index + 1) * RECORD_WIDTH > this.numbers.length) this.grow();
    const n = this.numbers;
    const at = index * RECORD_WIDTH;
    n[at + F.stage] = r.stage;
    n[at + F.level] = r.level;
    n[at + F.receivedAt] = r.receivedAt;
    n[at + F.stageDelay] = r.stageDelay;
    n[at + F.verb] = this.value(VERB, r.verb);
    n[at + F.user] = this.indexOf(actor);
    n[at + F.impersonatedUser] = impersonated ? this.indexOf(impersonated) : -1;
    n[at + F.token] = actor.stored.token ? this.tokenOf(actor) : -1;
    n[at + F.sourceIPs] = this.value(STRING, r.sourceIPs);
    n[at + F.userAgent] = this.value(STRING, r.userAgent);
    n[at + F.apiResource] = this.value(API_RESOURCE, ar && apiResourceKey(ar));
    n[at + F.object] = this.value(OBJECT, o && objectKey(o));
    n[at + F.resourceVersion] = r.resourceVersion ?? NaN;
    n[at + F.path] = this.value(STRING, r.path);
    n[at + F.code] = r.code ?? NaN;
    n[at + F.decision] = r.decision;
    n[at + F.reason] = this.value(STRING, r.reason);
    n[at + F.annotations] = this.value(STRING, r.annotations);
    n[at + F.shape] = r.shape;
    n[at + F.sourceVersion] = r.sourceVersion;
    n[at + F.hasBody] = request !== null || response !== null ? 1 : 0;
    n[at + F.usageAtom] = this.value(USAGE_ATOM, atom);
    this.batch.auditIDs.push(r.auditID);
    this.batch.queries.push(r.query);
    this.batch.residuals.push(r.residual);
    if (r.stage === 1 || (uses && mayHaveStarted(r.verb, ar?.subresource ?? ''))) this.batch.usageProbe.push(index);
    // Rare: look closer only at annotations that mention the key.
    if (r.annotations?.includes(ISSUED_CREDENTIAL)) {
      const id = (JSON.parse(r.annotations) as Record<string, string>)[ISSUED_CREDENTIAL];
      if (id) this.batch.issued.push([index, id]);
    }
    this.batch.positions.push(parsed.position);
    this.batch.requests.push(request);
    this.batch.responses.push(response);
    if (this.detect) {
      for (const f of this.detect(parsed, this.batch.cluster, { actor, impersonated })) {
        this.batch.findings.push([index, f.rule, f.severity, f.key, f.message, f.actor, f.effectiveUser, f.identity, f.owner ?? null]);
      }
    }
  }

  private value(dimension: number, v: string | null): number {
    if (v === null) return -1;
    const index = this.valueIndex[dimension]!;
    let i = index.get(v);
    if (i === undefined) {
      i = this.batch.values.push(v) - 1;
      this.batch.valueDimensions.push(dimension);
      index.set(v, i);
    }
    return i;
  }

  private indexOf(p: Principal): number {
    const json = p.stored.json;
    let i = this.principalIndex.get(json);
    if (i === undefined) {
      i = this.batch.principals.push([json, p.username]) - 1;
      this.principalIndex.set(json, i);
    }
    return i;
  }

  private tokenOf(p: Principal): number {
    const t = p.stored.token!;
    const key = tokenKey(t.json, t.credentialId);
    let i = this.tokenIndex.get(key);
    if (i === undefined) {
      i = this.batch.tokens.push([this.indexOf(p), t.json, t.credentialId]) - 1;
      this.tokenIndex.set(key, i);
    }
    return i;
  }

  /** The batch; its numbers copied to their length, so that sending it copies no spare room. */
  finish(): RecordBatch {
    this.batch.numbers = this.numbers.slice(0, this.batch.size * RECORD_WIDTH);
    return this.batch;
  }

  private grow(): void {
    const n = new Float64Array(this.numbers.length * 2);
    n.set(this.numbers);
    this.numbers = n;
  }
}
