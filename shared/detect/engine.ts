import { decisionOf } from '../audit/decision.js';
import type { AuditEvent, ParsedEvent } from '../audit/types.js';
import { asUsedIn } from '../identity/identity.js';
import { PrincipalCache, type EventPrincipals } from '../identity/principals.js';
import { wildcard } from '../wildcard.js';
import { RULES } from './rules.js';
import { AddressList } from './addresses.js';
import { target as actionTarget } from './ruleHelpers.js';
import { INDEXED_FIELDS, cachedGetter, compileDetection, type CompiledDetection, type FieldCache } from './sigma/sigmaMatch.js';
import type { SigmaRule } from './sigma/sigmaRule.js';
import type { Action, DetectContext, DetectSettings, Finding, Rule, RuleId, RuleState, Severity } from './types.js';

/** Per-rule settings (config `detections.rules.<id>`). */
export interface RuleSettings {
  enabled?: boolean;
  severity?: Severity;
  /** Usernames (actor or effective; `*` wildcards) the rule ignores. */
  exceptUsers?: readonly string[];
  /** Namespaces the rule ignores. */
  exceptNamespaces?: readonly string[];
}

export interface DetectorOptions extends DetectSettings {
  rules: Readonly<Partial<Record<RuleId, RuleSettings>>>;
  /** Sigma rules loaded from detections.sigma (sigma/sigmaFiles.ts), evaluated after the built-in ones. */
  sigma?: readonly SigmaRule[];
}

interface ActiveSigmaRule {
  rule: SigmaRule;
  test: CompiledDetection['test'];
  /** ` [attack.t1609, …]`, or nothing. */
  tags: string;
  /** The last event it was tested on (SigmaIndex.matching). */
  stamp: number;
}

/**
 * The Sigma rules by what they require of an indexed field (objectRef.resource, else verb):
 * an event is tested against the rules its field values allow, and the rules that require none.
 */
class SigmaIndex {
  private readonly byValue = new Map<string, Map<string, ActiveSigmaRule[]>>();
  private readonly always: ActiveSigmaRule[] = [];
  private readonly getters = new Map(INDEXED_FIELDS.map((f) => [f, cachedGetter(f)]));
  private stamp = 0;
  readonly size: number;

  constructor(rules: readonly SigmaRule[]) {
    for (const rule of rules) {
      const compiled = compileDetection(rule.detection);
      const active: ActiveSigmaRule = { rule, test: compiled.test, tags: rule.tags.length > 0 ? ` [${rule.tags.join(', ')}]` : '', stamp: 0 };
      if (!compiled.required) {
        this.always.push(active);
        continue;
      }
      const index = this.byValue.get(compiled.required.field) ?? new Map<string, ActiveSigmaRule[]>();
      this.byValue.set(compiled.required.field, index);
      for (const v of compiled.required.values) index.set(v, [...(index.get(v) ?? []), active]);
    }
    this.size = rules.length;
  }

  /** Tests a rule once per event (`stamp`), however many of the event's values list it. */
  private consider(r: ActiveSigmaRule, stamp: number, e: AuditEvent, cache: FieldCache, out: ActiveSigmaRule[]): void {
    if (r.stamp === stamp) return;
    r.stamp = stamp;
    if (r.test(e, cache)) out.push(r);
  }

  /** The rules that match the event. */
  matching(e: AuditEvent): ActiveSigmaRule[] {
    const cache: FieldCache = new Map();
    const out: ActiveSigmaRule[] = [];
    // A rule listed under several of the event's values is tested once.
    const stamp = ++this.stamp;
    for (const r of this.always) this.consider(r, stamp, e, cache, out);
    for (const [field, index] of this.byValue) {
      for (const v of this.getters.get(field as (typeof INDEXED_FIELDS)[number])!(e, cache)) {
        const rules = typeof v === 'string' ? index.get(v.toLowerCase()) : undefined;
        if (rules) for (const r of rules) this.consider(r, stamp, e, cache, out);
      }
    }
    return out;
  }
}

export const DEFAULT_DETECT_SETTINGS: DetectSettings = {
  breakGlass: { accounts: ['kubernetes-admin', 'kubernetes-super-admin', 'kube:admin', 'system:admin'], groups: ['system:masters', 'kubeadm:cluster-admins'] },
  anonymousAllowedPaths: ['/healthz', '/healthz/*', '/livez', '/livez/*', '/readyz', '/readyz/*', '/version', '/version/'],
  bursts: { forbiddenCount: 20, anonymousDeniedCount: 20, windowSeconds: 60, secretReads: 10, secretReadsWindowSeconds: 300, distinctResources: 15 },
  dangerousCapabilities: ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE', 'SYS_MODULE', 'BPF', 'DAC_READ_SEARCH', 'SYS_RAWIO', 'SYS_BOOT', 'PERFMON', 'SYS_CHROOT', 'ALL'],
  systemNamespaces: ['kube-system', 'kube-public'],
  allowedRegistries: [],
  genericUserAgents: ['curl/', 'Wget/', 'python-requests/', 'python-urllib', 'Python-urllib/', 'aiohttp/', 'Go-http-client/', 'PostmanRuntime/', 'okhttp/', 'axios/', 'node-fetch/', 'libwww-perl/', 'HTTPie/', 'Ruby'],
  rbacControllers: [
    'system:serviceaccount:kube-system:clusterrole-aggregation-controller',
    'system:serviceaccount:kube-system:generic-garbage-collector',
    'system:serviceaccount:kube-system:namespace-controller',
  ],
  denyAddresses: [],
  trustedAddresses: [],
  sequenceSeconds: 300,
};

/** Where the rules get the deny file's current list (addressFile.ts); none when no file is configured. */
export type DenyFileSource = () => AddressList;

interface ActiveRule {
  rule: Rule;
  /** Configured: wins over the rule's own, and over a hit's. */
  severity?: Severity;
  state: RuleState;
  except: (a: Action) => boolean;
}

/**
 * Runs the enabled rules over each action as it is ingested. Each request is judged at every
 * stage but RequestReceived (which has no outcome yet); the alert store counts a request once
 * per alert, whichever of its stages arrive. Rules that count within a window keep their state
 * here, so one Detector should see one source's events in order.
 */
export class Detector {
  private readonly active: ActiveRule[];
  /** The active rules to run on a request for each resource some rule is limited to; others run `general`. */
  private readonly byResource = new Map<string, ActiveRule[]>();
  private readonly general: ActiveRule[];
  private readonly principals = new PrincipalCache();

  private readonly context: DetectContext;
  private readonly sigma: SigmaIndex;

  constructor(
    options: DetectorOptions = { ...DEFAULT_DETECT_SETTINGS, rules: {} },
    denyFile?: DenyFileSource,
  ) {
    const denied = AddressList.of(options.denyAddresses, 'detections.denyAddresses');
    const trusted = AddressList.of(options.trustedAddresses, 'detections.trustedAddresses');
    const controllers = options.rbacControllers.map(wildcard);
    this.context = {
      ...options,
      deniedBy: (ip) => denied.find(ip) ?? (denyFile ? denyFile().find(ip) : null),
      trusted: (ip) => trusted.find(ip) !== null,
      rbacController: (username) => controllers.some((c) => c(username)),
    };
    this.sigma = new SigmaIndex(options.sigma ?? []);
    this.active = RULES.filter((r) => options.rules[r.id]?.enabled !== false).map((rule) => {
      const s = options.rules[rule.id] ?? {};
      const users = (s.exceptUsers ?? []).map(wildcard);
      const namespaces = new Set(s.exceptNamespaces ?? []);
      return {
        rule,
        ...(s.severity ? { severity: s.severity } : {}),
        state: new Map(),
        except: (a: Action) =>
          users.some((u) => u(a.actor.username) || u(a.effective.username)) ||
          (a.event.objectRef?.namespace !== undefined && namespaces.has(a.event.objectRef.namespace)),
      };
    });
    this.general = this.active.filter((r) => !r.rule.resources);
    for (const resource of new Set(this.active.flatMap((r) => r.rule.resources ?? []))) {
      this.byResource.set(resource, this.active.filter((r) => !r.rule.resources || r.rule.resources.includes(resource)));
    }
  }

  /**
   * The findings of one event received for `cluster`. `principals` are the event's user and
   * impersonatedUser, when the caller has them from its own PrincipalCache.
   */
  detect(parsed: ParsedEvent, cluster: string, principals?: EventPrincipals): Finding[] {
    const e = parsed.event;
    if (e.stage === 'RequestReceived' || (this.active.length === 0 && this.sigma.size === 0)) return [];
    const actor = asUsedIn((principals?.actor ?? this.principals.of(e.user)).identity, e.annotations);
    const impersonated = principals ? principals.impersonated : e.impersonatedUser ? this.principals.of(e.impersonatedUser) : null;
    const effective = impersonated ? impersonated.identity : actor;
    const action: Action = { event: e, cluster, receivedAt: parsed.receivedAt, actor, effective, decision: decisionOf(e).decision };
    const out: Finding[] = [];
    for (const r of this.byResource.get(e.objectRef?.resource ?? '') ?? this.general) {
      const hit = r.rule.detect(action, this.context, r.state);
      if (!hit || r.except(action)) continue;
      out.push(findingOf(action, r.rule.id, r.severity ?? hit.severity ?? r.rule.severity, hit.key ?? effective.key, hit.message, hit.owner));
    }
    for (const s of this.sigma.size > 0 ? this.sigma.matching(e) : []) {
      out.push(findingOf(action, `sigma:${s.rule.id}`, s.rule.severity, effective.key, `${s.rule.title}: ${effective.username} ${e.verb} ${actionTarget(action)}${s.tags}`));
    }
    return out;
  }
}

/** A hit on an action as the finding the store records. */
function findingOf(a: Action, rule: Finding['rule'], severity: Severity, key: string, message: string, owner?: string): Finding {
  const f: Finding = { rule, severity, key, message, auditID: a.event.auditID, cluster: a.cluster, receivedAt: a.receivedAt, actor: a.actor.username, effectiveUser: a.effective.username, identity: a.actor.key };
  if (owner) f.owner = owner;
  return f;
}

/** A rule of the catalogue by id. */
export function ruleById(id: RuleId): Rule {
  return RULES.find((r) => r.id === id)!;
}
