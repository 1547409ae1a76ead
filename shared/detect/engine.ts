import type { ParsedEvent, UserInfo } from '../audit/types.js';
import { asUsedIn, identityOf, type Identity } from '../identity/identity.js';
import { wildcard } from '../wildcard.js';
import { RULES } from './rules.js';
import type { Action, DetectSettings, Finding, Rule, RuleId, RuleState, Severity } from './types.js';

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
}

export const DEFAULT_DETECT_SETTINGS: DetectSettings = {
  breakGlass: { accounts: ['kubernetes-admin', 'kubernetes-super-admin', 'kube:admin', 'system:admin'], groups: ['system:masters', 'kubeadm:cluster-admins'] },
  anonymousAllowedPaths: ['/healthz', '/healthz/*', '/livez', '/livez/*', '/readyz', '/readyz/*', '/version', '/version/'],
  bursts: { forbiddenCount: 20, anonymousDeniedCount: 20, windowSeconds: 60 },
};

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
  private readonly identities = new Map<string, Identity>();

  constructor(private readonly options: DetectorOptions = { ...DEFAULT_DETECT_SETTINGS, rules: {} }) {
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
  }

  /**
   * The findings of one event received for `cluster`. `userKeys` are the event's user and
   * impersonatedUser as JSON, when the caller has them: identities are cached by them.
   */
  detect(parsed: ParsedEvent, cluster: string, userKeys?: { user: string; impersonatedUser: string | null }): Finding[] {
    const e = parsed.event;
    if (e.stage === 'RequestReceived' || this.active.length === 0) return [];
    const actor = asUsedIn(this.identity(e.user, userKeys?.user), e.annotations);
    const effective = e.impersonatedUser ? this.identity(e.impersonatedUser, userKeys?.impersonatedUser ?? undefined) : actor;
    const d = e.annotations?.['authorization.k8s.io/decision'];
    const action: Action = { event: e, cluster, receivedAt: parsed.receivedAt, actor, effective, decision: d === 'allow' || d === 'forbid' ? d : 'unknown' };
    const out: Finding[] = [];
    for (const r of this.active) {
      const hit = r.rule.detect(action, this.options, r.state);
      if (!hit || r.except(action)) continue;
      out.push({
        rule: r.rule.id,
        severity: r.severity ?? hit.severity ?? r.rule.severity,
        key: hit.key ?? effective.key,
        message: hit.message,
        auditID: e.auditID,
        cluster,
        receivedAt: parsed.receivedAt,
        actor: actor.username,
        effectiveUser: effective.username,
        identity: actor.key,
        ...(hit.owner ? { owner: hit.owner } : {}),
      });
    }
    return out;
  }

  private identity(user: UserInfo, key: string | undefined): Identity {
    if (key === undefined) return identityOf(user);
    let id = this.identities.get(key);
    if (!id) {
      if (this.identities.size >= IDENTITY_CACHE_ENTRIES) this.identities.clear();
      this.identities.set(key, (id = identityOf(user)));
    }
    return id;
  }
}

/** Distinct UserInfos are few; identities are cached by their JSON, up to this many. */
const IDENTITY_CACHE_ENTRIES = 20_000;

/** A rule of the catalogue by id. */
export function ruleById(id: RuleId): Rule {
  return RULES.find((r) => r.id === id)!;
}
