import { expect } from 'chai';
import { accountActivity } from '../../../shared/rbac/staleAccounts.js';
import { emptyState, type RbacState } from '../../../shared/rbac/types.js';

const DAY = 86_400_000_000;
const NOW = Date.UTC(2026, 10, 27) * 1000;

function state(): RbacState {
  const s = emptyState();
  const ref = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' };
  s.clusterRoleBindings.push({ name: 'viewers', roleRef: ref, subjects: [
    { kind: 'User', name: 'alice', namespace: '', apiGroup: 'rbac.authorization.k8s.io' },
    { kind: 'User', name: 'bob', namespace: '', apiGroup: 'rbac.authorization.k8s.io' },
    { kind: 'Group', name: 'dev', namespace: '', apiGroup: 'rbac.authorization.k8s.io' },
  ] });
  s.roleBindings.push({ name: 'ci', namespace: 'build', roleRef: ref, subjects: [
    { kind: 'ServiceAccount', name: 'runner', namespace: '', apiGroup: '' },
    { kind: 'User', name: 'alice', namespace: '', apiGroup: 'rbac.authorization.k8s.io' },
  ] });
  return s;
}

describe('idle accounts (stale-account, PCI DSS 8.2.6)', () => {
  it('with a long history: idle past idle.days or never seen is stale; recent is active; groups are not accounts', () => {
    const rows = accountActivity({
      state: state(),
      lastSeen: new Map([['alice', NOW - 3 * DAY], ['system:serviceaccount:build:runner', NOW - 120 * DAY]]),
      historyFrom: NOW - 400 * DAY,
      nowMicros: NOW,
      idleDays: 90,
    });
    expect(rows.map((r) => [r.name, r.status, r.idleDays])).to.deep.equal([
      ['bob', 'stale-account', 400],
      ['system:serviceaccount:build:runner', 'stale-account', 120],
      ['alice', 'active', 3],
    ]);
    expect(rows.find((r) => r.name === 'alice')!.bindings).to.deep.equal(['ClusterRoleBinding/viewers', 'RoleBinding build/ci']);
    expect(rows[0]!.note).to.equal('no request in the 400 days the store holds');
  });

  it('with a short history: an account never seen is not called stale, but one idle past the window still is', () => {
    const rows = accountActivity({
      state: state(),
      lastSeen: new Map([['alice', NOW - 95 * DAY]]),
      historyFrom: NOW - 100 * DAY,
      nowMicros: NOW,
      idleDays: 120,
    });
    expect(rows.map((r) => [r.name, r.status])).to.deep.equal([
      ['bob', 'insufficient-history'],
      ['system:serviceaccount:build:runner', 'insufficient-history'],
      ['alice', 'active'],
    ]);
    expect(rows[0]!.note).to.contain('100 day(s) of history, fewer than idle.days 120: insufficient history');
    const emptyStore = accountActivity({ state: state(), lastSeen: new Map(), historyFrom: null, nowMicros: NOW, idleDays: 90 });
    expect(emptyStore.every((r) => r.status === 'insufficient-history')).to.equal(true);
  });
});
