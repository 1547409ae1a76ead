import { subjectUsername } from './authorizer.js';
import type { RbacState } from './types.js';
import { before, fullDaysBetween } from '../calendar.js';

/**
 * Idle accounts (PCI DSS 8.2.6, finding `stale-account`): users and service accounts that RBAC
 * binds but that made no request for `idleDays`. An account never seen is stale only when the
 * store covers the whole window; otherwise its history is insufficient to say.
 */

export type AccountStatus = 'active' | 'stale-account' | 'insufficient-history';

export interface AccountActivity {
  kind: 'User' | 'ServiceAccount';
  name: string;
  /** Bindings naming it, as `ClusterRoleBinding/x` or `RoleBinding ns/x`. */
  bindings: string[];
  /** Microseconds of its last request in the store, or null. */
  lastSeen: number | null;
  /** Whole days since its last request (or since the store's history begins, when never seen). */
  idleDays: number | null;
  status: AccountStatus;
  note: string;
}

export interface StaleInput {
  state: RbacState;
  /** The last request of each username (the effective user) in the cluster, microseconds. */
  lastSeen: ReadonlyMap<string, number>;
  /** The first day the store holds activity of the cluster (microseconds), or null: nothing. */
  historyFrom: number | null;
  nowMicros: number;
  idleDays: number;
}


export function accountActivity(input: StaleInput): AccountActivity[] {
  const accounts = new Map<string, { kind: 'User' | 'ServiceAccount'; bindings: string[] }>();
  const bind = (subjects: RbacState['roleBindings'][number]['subjects'], label: string, namespace: string) => {
    for (const s of subjects) {
      if (s.kind !== 'User' && s.kind !== 'ServiceAccount') continue;
      const name = subjectUsername(s, namespace);
      if (!name) continue;
      const a = accounts.get(name) ?? accounts.set(name, { kind: s.kind, bindings: [] }).get(name)!;
      if (!a.bindings.includes(label)) a.bindings.push(label);
    }
  };
  for (const b of input.state.clusterRoleBindings) bind(b.subjects, `ClusterRoleBinding/${b.name}`, '');
  for (const b of input.state.roleBindings) bind(b.subjects, `RoleBinding ${b.namespace}/${b.name}`, b.namespace);

  const windowStart = before(input.nowMicros / 1000, { days: input.idleDays });
  const covered = input.historyFrom !== null && input.historyFrom <= windowStart;
  const historyDays = input.historyFrom === null ? 0 : fullDaysBetween(input.historyFrom, input.nowMicros);
  return [...accounts]
    .map(([name, a]): AccountActivity => {
      const last = input.lastSeen.get(name) ?? null;
      if (last !== null) {
        const idle = fullDaysBetween(last, input.nowMicros);
        return idle >= input.idleDays
          ? { name, ...a, lastSeen: last, idleDays: idle, status: 'stale-account', note: `no request for ${idle} days (idle.days ${input.idleDays})` }
          : { name, ...a, lastSeen: last, idleDays: idle, status: 'active', note: `last request ${idle} day(s) ago` };
      }
      return covered
        ? { name, ...a, lastSeen: null, idleDays: historyDays, status: 'stale-account', note: `no request in the ${historyDays} days the store holds` }
        : {
            name, ...a, lastSeen: null, idleDays: null, status: 'insufficient-history',
            note: `no request seen, but the store holds ${historyDays} day(s) of history, fewer than idle.days ${input.idleDays}: insufficient history`,
          };
    })
    .sort((x, y) => statusRank(x.status) - statusRank(y.status) || (y.idleDays ?? -1) - (x.idleDays ?? -1) || x.name.localeCompare(y.name));
}

const statusRank = (s: AccountStatus) => (s === 'stale-account' ? 0 : s === 'insufficient-history' ? 1 : 2);
