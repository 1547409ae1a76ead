import { wildcard } from '../wildcard.js';
import { selfDescribedPerson, type Identity } from './identity.js';

/**
 * The identity map (config `identityMap`): rules that say which person and team hold an
 * identity. The first rule whose every condition matches wins; a rule without a person leaves
 * the person an identity names itself (an e-mail username or EKS session name). Patterns may
 * use `*` for any run of characters; everything else matches exactly.
 */
export interface IdentityRule {
  match: {
    username?: string;
    /** `authentication.kubernetes.io/credential-id`, e.g. X509SHA256=… of a person's certificate. */
    credentialId?: string;
    /** EKS caller ARN, e.g. arn:aws:sts::111122223333:assumed-role/Admin/* */
    arn?: string;
    /** Any of the identity's groups. */
    group?: string;
  };
  person?: string;
  team?: string;
}

export interface Attribution {
  person?: string;
  team?: string;
  /** Which rule said so (its index), or `self` when the identity names its person itself. */
  source?: number | 'self';
}

/** Compiles the rules once; the result attributes identities purely. */
export function compileIdentityMap(rules: readonly IdentityRule[]): (identity: Identity) => Attribution {
  const compiled = rules.map((rule, index) => {
    const m = rule.match;
    const checks: ((i: Identity) => boolean)[] = [];
    if (m.username !== undefined) {
      const f = wildcard(m.username);
      checks.push((i) => f(i.username));
    }
    if (m.credentialId !== undefined) {
      const f = wildcard(m.credentialId);
      checks.push((i) => i.credential.id !== undefined && f(i.credential.id));
    }
    if (m.arn !== undefined) {
      const f = wildcard(m.arn);
      checks.push((i) => i.cloud?.provider === 'aws' && f(i.cloud.principal));
    }
    if (m.group !== undefined) {
      const f = wildcard(m.group);
      checks.push((i) => i.groups.some(f));
    }
    return { rule, index, checks };
  });
  return (identity) => {
    const self = selfDescribedPerson(identity);
    for (const { rule, index, checks } of compiled) {
      if (checks.length > 0 && checks.every((c) => c(identity))) {
        // A rule that names only a team leaves the person to the identity itself.
        const person = rule.person ?? self;
        return { ...(person ? { person } : {}), ...(rule.team ? { team: rule.team } : {}), source: index };
      }
    }
    return self ? { person: self, source: 'self' } : {};
  };
}
