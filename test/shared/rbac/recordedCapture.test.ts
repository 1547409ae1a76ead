import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { ParsedEvent } from '../../../shared/audit/types.js';
import { systemClock } from '../../../services/cli/clock.js';
import { loadFiles } from '../../../shared/rbac/loadFiles.js';
import { proposalManifests, type Target } from '../../../shared/rbac/recommend.js';
import type { RbacState } from '../../../shared/rbac/types.js';
import { observedTargets, prepareRecommendations, recommendFor, usageReport, type WindowOptions } from '../../../shared/analysis/usageWindow.js';
import { sqliteQueryStore } from '../../../shared/storage/sqlite/queryStore.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { saveSnapshot, type SnapshotSummary } from '../../../shared/storage/sqlite/tables/rbacSnapshots.js';
import {writeBatches, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

/**
 * `rbac recommend` and `rbac report` on a capture recorded from a real kube-apiserver
 * (test/fixtures/rbac-usage/SOURCE.md): users allowed some requests and denied others, one
 * denied everything, impersonation allowed and refused. Each case runs on the capture as
 * recorded and as an apiserver before 1.11 would have written it (v1beta1, no annotations).
 */

const FIXTURE = join(process.cwd(), 'test', 'fixtures', 'rbac-usage');
const BOOTSTRAP = join(process.cwd(), 'test', 'fixtures', 'rbac', 'default-rbac-v1.34.4.json');
const SUMMARY: SnapshotSummary = { clusterRoles: 0, roles: 0, clusterRoleBindings: 0, roleBindings: 0, serviceAccounts: 0, apiResources: 0, skipped: {}, problems: [], aggregationPending: [] };
const EXACT = { expandVerbs: false, expandMultiNamespace: false, expandMultiName: false, includeDenied: false };

/** The capture as recorded, or as an older apiserver would have written it. */
function capture(older: boolean): ParsedEvent[] {
  return readFileSync(join(FIXTURE, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (older) {
        delete e.annotations;
        Object.assign(e, { apiVersion: 'audit.k8s.io/v1beta1', timestamp: String(e.requestReceivedTimestamp).replace(/\.\d+Z$/, 'Z'), metadata: { creationTimestamp: e.stageTimestamp } });
      }
      const r = parseEvent(e, `audit.jsonl:${i + 1}`);
      if (!('event' in r)) throw new Error(r.reason);
      return r;
    });
}

const stateOf = (paths: string[]): RbacState => {
  const loaded = loadFiles(paths);
  expect(loaded.problems).to.deep.equal([]);
  return loaded.state;
};

function window(events: ParsedEvent[]): WindowOptions {
  const times = events.map((p) => p.receivedAt);
  return { cluster: 'rec', since: Math.min(...times), until: Math.max(...times) + 1, minDays: 1 };
}

/** A store holding the capture; snapshots (taken after it) as given, oldest first. */
function storeWith(dir: string, name: string, events: ParsedEvent[], snapshots: RbacState[]): Store {
  const s = openStore(join(dir, name), { clock: systemClock });
  writeBatches(new EventWriter(s, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'rec', source: 'test', events, rejected: [] }]);
  const after = Math.max(...events.map((p) => p.receivedAt)) + 86_400e6;
  snapshots.forEach((state, i) => saveSnapshot(s.db, { cluster: 'rec', takenAt: after + i * 3_600e6, source: `test ${i}`, state, summary: SUMMARY }));
  return s;
}

const rules = (r: ReturnType<typeof recommendFor>) =>
  proposalManifests(r.proposal).flatMap((m) => {
    const o = m as { kind: string; metadata: { namespace?: string }; rules?: { verbs: string[]; resources?: string[]; nonResourceURLs?: string[]; resourceNames?: string[] }[] };
    return (o.rules ?? []).map((x) => `${o.kind}${o.metadata.namespace ? ` ${o.metadata.namespace}` : ''}: ${x.verbs.join(',')} ${(x.resources ?? x.nonResourceURLs ?? []).join(',')}${x.resourceNames ? ` [${x.resourceNames.join(',')}]` : ''}`);
  });

for (const older of [false, true]) {
  describe(`rbac recommend and report on a capture recorded from a real apiserver${older ? ', as an apiserver before 1.11 writes it (no annotations)' : ''}`, () => {
    const dir = tempDir();
    const events = capture(older);
    const w = window(events);
    const bootstrap = stateOf([BOOTSTRAP]);
    const full = stateOf([BOOTSTRAP, join(FIXTURE, 'rbac.json')]);
    const user = (name: string): Target => ({ kind: 'User', name });

    it('grants nothing to a subject every one of whose requests was denied, unless --include-denied', async () => {
      for (const [name, snapshots] of [['none', []], ['boot', [bootstrap]], ['full', [full]]] as const) {
        const s = storeWith(dir, `denied-${name}.db`, events, [...snapshots]);
        try {
          const p = await prepareRecommendations(sqliteQueryStore(s.db), snapshots.length ? { kind: 'snapshot' } : null, w);
          const dave = recommendFor(p, user('dave'), EXACT);
          expect(rules(dave), name).to.deep.equal([]);
          expect(dave.denied.reduce((n, r) => n + r.count, 0), name).to.equal(3);
          expect(observedTargets(p).map((t) => t.name), name).to.not.include('dave');
          const audit2rbac = recommendFor(p, user('dave'), { ...EXACT, includeDenied: true });
          expect(rules(audit2rbac), name).to.include.members(['Role payments: get configmaps [app]', 'ClusterRole: list pods']);
        } finally {
          s.close();
        }
      }
    });

    it('covers allowed requests that no binding of the snapshot explains, and the dry run counts them', async () => {
      const s = storeWith(dir, 'drift.db', events, [bootstrap]);
      try {
        const p = await prepareRecommendations(sqliteQueryStore(s.db), { kind: 'snapshot' }, w);
        const alice = recommendFor(p, user('alice'), EXACT);
        expect(rules(alice)).to.deep.equal(['Role payments: get pods [nope]', 'Role payments: list pods']);
        expect(alice.unexplained).to.equal(2);
        expect(alice.dryRun).to.include({ regressionCount: 0 });
        // The two pod reads, and the three discovery calls the bootstrap roles allow.
        expect(alice.dryRun!.distinct).to.equal(5);
        const report = await usageReport(sqliteQueryStore(s.db), { kind: 'snapshot' }, w);
        expect(report.drift.map((d) => d.example)).to.include('alice: list /pods/ payments/');
      } finally {
        s.close();
      }
    });

    it('judges grants and use by the one snapshot the report names', async () => {
      const s = storeWith(dir, 'two.db', events, [bootstrap, full]);
      try {
        const report = await usageReport(sqliteQueryStore(s.db), { kind: 'snapshot' }, w);
        expect(report.snapshot).to.match(/^snapshot 2 of rec/);
        const alice = report.subjects.find((x) => x.name === 'alice')!;
        expect(alice.used).to.be.greaterThan(0);
        const pods = alice.bindings.find((b) => b.binding === 'RoleBinding payments/alice-pods')!;
        expect(pods).to.include({ used: true, removable: false });
        expect(report.drift).to.deep.equal([]);
        const first = await usageReport(sqliteQueryStore(s.db), { kind: 'snapshot', id: 1 }, w);
        expect(first.snapshot).to.match(/^snapshot 1 of rec/);
        expect(first.subjects.find((x) => x.name === 'alice')!.bindings.map((b) => b.binding)).to.not.include('RoleBinding payments/alice-pods');
      } finally {
        s.close();
      }
    });

    it('proposes no Role that the proposed ClusterRole already covers', async () => {
      const s = storeWith(dir, 'minimal.db', events, []);
      try {
        const p = await prepareRecommendations(sqliteQueryStore(s.db), null, w);
        const erin = recommendFor(p, user('erin'), EXACT);
        expect(rules(erin)).to.deep.equal(['ClusterRole: list pods', 'ClusterRole: impersonate users [alice]']);
      } finally {
        s.close();
      }
    });

    it('--all finds every subject that --user finds rules for', async () => {
      const s = storeWith(dir, 'all.db', events, [bootstrap]);
      try {
        const p = await prepareRecommendations(sqliteQueryStore(s.db), { kind: 'snapshot' }, w);
        const all = observedTargets(p).map((t) => t.name);
        expect(all).to.deep.equal(['alice', 'bob', 'carol', 'erin']);
        for (const name of ['alice', 'bob', 'carol', 'erin', 'dave']) expect(rules(recommendFor(p, user(name), EXACT)).length > 0, name).to.equal(all.includes(name));
      } finally {
        s.close();
      }
    });

    it('assumes the bootstrap discovery roles without a snapshot', async () => {
      const s = storeWith(dir, 'discovery.db', events, []);
      try {
        const alice = recommendFor(await prepareRecommendations(sqliteQueryStore(s.db), null, w), user('alice'), EXACT);
        expect(rules(alice)).to.deep.equal(['Role payments: get pods [nope]', 'Role payments: list pods']);
        expect(alice.alreadyAllowed).to.equal(3);
      } finally {
        s.close();
      }
    });
  });
}
