import { join } from 'node:path';
import { expect } from 'chai';
import { eventToActionRow, type ActionRow } from '../../../shared/audit/actionRow.js';
import { actionToEcs, alertToEcs } from '../../../shared/siem/ecs.js';
import { actionToOcsf, alertToOcsf } from '../../../shared/siem/ocsf.js';
import type { AlertRow } from '../../../shared/storage/sqlite/queries/alertQuery.js';
import { makeEvent, sharedPath } from '../../helpers.js';
import { EcsSchema, OcsfSchema } from '../../siemSchemas.js';

const actor = { kind: 'human', person: 'Alice Doe', checkout: null, credentialKind: 'client-certificate', credentialId: 'X509SHA256=ab12' };
const rows: ActionRow[] = [
  eventToActionRow(makeEvent({ verb: 'create', objectRef: { resource: 'pods', namespace: 'shop', name: 'web', apiVersion: 'v1' }, responseStatus: { metadata: {}, code: 201 } }), 'prod', actor),
  eventToActionRow(makeEvent({ verb: 'list', objectRef: { resource: 'secrets', apiVersion: 'v1' }, annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' }, responseStatus: { metadata: {}, code: 403 } }), 'prod', actor),
  eventToActionRow(makeEvent({ verb: 'patch', impersonatedUser: { username: 'system:serviceaccount:ci:deployer' }, objectRef: { resource: 'deployments', apiGroup: 'apps', namespace: 'shop', name: 'web', apiVersion: 'v1' } }), 'prod', { ...actor, kind: 'serviceaccount' }),
  eventToActionRow(
    makeEvent({ verb: 'create', stage: 'ResponseStarted', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'shop', name: 'web', apiVersion: 'v1' }, requestURI: '/api/v1/namespaces/shop/pods/web/exec?command=sh&command=-c&command=id', responseStatus: { metadata: {}, code: 101 } }),
    'prod',
  ),
  eventToActionRow(makeEvent({ verb: 'get', objectRef: undefined, requestURI: '/healthz?verbose', responseStatus: undefined, sourceIPs: undefined, userAgent: undefined, annotations: undefined, user: { username: 'system:anonymous', groups: [] } }), 'prod'),
  eventToActionRow(makeEvent({ verb: 'proxy', objectRef: { resource: 'nodes', subresource: 'proxy', name: 'n1', apiVersion: 'v1' }, sourceIPs: ['2001:db8::7'], requestReceivedTimestamp: '2026-07-23T14:47:51.123456789Z' }), 'prod'),
];
const alert = (over: Partial<AlertRow>): AlertRow => ({
  id: 7, rule: 'secret-read', severity: 'medium', time: '2026-07-23T14:47:51.123456Z', lastTime: '2026-07-23T15:00:00.000000Z', cluster: 'prod',
  actor: 'alice', effectiveUser: 'alice', person: 'Alice Doe', count: 3, auditIDs: ['a1', 'a2', 'a3'], message: 'alice get secrets db in shop', status: 'open',
  pci: ['10.2.1.1', '8.6.3'], ackedBy: null, ackedAt: null, resolvedBy: null, resolvedAt: null, ...over,
});
const alerts = [
  alert({}),
  alert({ status: 'acknowledged', ackedBy: 'soc-1', ackedAt: '2026-07-23T16:00:00.000000Z', severity: 'critical', rule: 'unattributed-break-glass' }),
  alert({ status: 'resolved', resolvedBy: 'soc-2', resolvedAt: '2026-07-24T09:00:00.000000Z', actor: ['alice', 'bob'], effectiveUser: ['alice', 'bob'], person: [null, 'Bob'], rule: 'sigma:9e2c0b7a', message: 'Events deleted: alice delete events x in a', severity: 'low' }),
];

describe('SIEM schemas', function () {
  let ocsf: OcsfSchema | null = null;
  let ecs: EcsSchema | null = null;
  before(function () {
    const o = sharedPath(this, join('spec', 'ocsf-schema'));
    const e = sharedPath(this, join('spec', 'ecs', 'ecs_flat.yml'));
    ocsf = o ? new OcsfSchema(o) : null;
    ecs = e ? new EcsSchema(e) : null;
  });

  it('the checks catch what is wrong: an unknown attribute, a missing required one, a value outside its enum, a wrong type', function () {
    const good = actionToOcsf(rows[0]!);
    expect(ocsf!.validateEvent(good, 'api_activity')).to.deep.equal([]);
    const bad = { ...good, actor: { user: { name: 'x', type_id: 9 } }, api: { request: { uid: 'x' } }, color: 'red', time: '2026-07-23' };
    expect(ocsf!.validateEvent(bad, 'api_activity')).to.have.members([
      'api_activity.actor.user.type_id: 9 is not one of 0, 1, 2, 3, 4, 99',
      'api_activity.api.operation: required, missing',
      'api_activity.color: not an attribute here',
      'api_activity.time: "2026-07-23" is not a timestamp_t',
    ]);
    expect(ecs!.validate({ ...actionToEcs(rows[0]!), event: { kind: 'happening', type: ['creation'], category: ['network'] }, source: { ip: 'nope' }, user: { nickname: 'al' } })).to.have.members([
      "event.kind: 'happening' is not an allowed value",
      "event.type: 'creation' is not expected with event.category network",
      'source.ip: "nope" is not a ip',
      'user.nickname: not an ECS field',
    ]);
  });

  it('writes every action as a valid OCSF API Activity with the verb as its activity', function () {
    for (const r of rows) expect(ocsf!.validateEvent(actionToOcsf(r), 'api_activity'), JSON.stringify(actionToOcsf(r))).to.deep.equal([]);
    expect(rows.map((r) => actionToOcsf(r).activity_id)).to.deep.equal([1, 2, 3, 1, 2, 99]);
    const created = actionToOcsf(rows[0]!) as Record<string, any>;
    expect(created).to.deep.include({ class_uid: 6003, category_uid: 6, type_uid: 600301, status_id: 1, status_code: '201', time: Date.parse('2026-07-23T14:47:51.123Z') });
    expect(created.actor).to.deep.equal({ user: { name: 'alice', type_id: 1, type: 'User', groups: [{ name: 'dev' }, { name: 'system:authenticated' }], credential_uid: 'X509SHA256=ab12' }, session: { credential_uid: 'X509SHA256=ab12' } });
    expect(created.api).to.deep.equal({ operation: 'create', request: { uid: rows[0]!.auditID }, service: { name: 'kube-apiserver' } });
    expect(created.src_endpoint).to.deep.equal({ ip: '10.0.0.7' });
    expect(created.http_request.user_agent).to.equal('kubectl/v1.31.0 (linux/amd64) kubernetes/abc');
    expect(created.resources).to.deep.equal([{ name: 'web', type: 'pods', namespace: 'shop' }]);
    expect(created.unmapped).to.include({ cluster: 'prod', person: 'Alice Doe', effective_user: 'alice' });
    expect(actionToOcsf(rows[1]!)).to.deep.include({ status_id: 2, status: 'Failure' });
    expect((actionToOcsf(rows[2]!) as Record<string, any>).unmapped).to.include({ effective_user: 'system:serviceaccount:ci:deployer', impersonated_user: 'system:serviceaccount:ci:deployer' });
    expect((actionToOcsf(rows[3]!) as Record<string, any>).unmapped.command).to.equal('sh -c id');
  });

  it('writes every alert as a valid OCSF Detection Finding: state as activity and status, severity mapped, PCI requirements kept', function () {
    for (const a of alerts) expect(ocsf!.validateEvent(alertToOcsf(a), 'detection_finding'), JSON.stringify(alertToOcsf(a))).to.deep.equal([]);
    expect(alerts.map((a) => { const f = alertToOcsf(a); return [f.activity_id, f.status_id, f.severity_id, f.type_uid]; })).to.deep.equal([[1, 1, 3, 200401], [2, 2, 5, 200402], [3, 4, 2, 200403]]);
    const f = alertToOcsf(alerts[0]!) as Record<string, any>;
    expect(f.finding_info).to.deep.include({ uid: 'prod/7', title: 'Secret read by a person, or by a service account outside its namespace', analytic: { uid: 'secret-read', name: 'secret-read', type_id: 1, type: 'Rule' } });
    expect(f.unmapped.compliance).to.deep.equal({ standards: ['PCI DSS v4.0.1'], requirements: ['10.2.1.1', '8.6.3'] });
    expect((alertToOcsf(alerts[2]!) as Record<string, any>).finding_info.title).to.equal('Events deleted');
  });

  it('writes actions and alerts as valid ECS in the shape of Elastic\'s Kubernetes integration', function () {
    for (const r of rows) expect(ecs!.validate(actionToEcs(r)), JSON.stringify(actionToEcs(r))).to.deep.equal([]);
    for (const a of alerts) expect(ecs!.validate(alertToEcs(a)), JSON.stringify(alertToEcs(a))).to.deep.equal([]);
    const doc = actionToEcs(rows[1]!) as Record<string, any>;
    expect(doc.event).to.deep.include({ action: 'list', outcome: 'failure', type: ['access', 'denied'], dataset: 'kubernetes.audit_logs' });
    expect(doc.kubernetes.audit.annotations).to.deep.equal({ 'authorization_k8s_io/decision': 'forbid' });
    expect(doc.kubernetes.audit.objectRef).to.deep.equal({ resource: 'secrets' });
    expect(doc.orchestrator).to.deep.equal({ type: 'kubernetes', cluster: { name: 'prod' }, resource: { type: 'secrets' } });
    expect((actionToEcs(rows[2]!) as Record<string, any>).user).to.deep.include({ name: 'alice', effective: { name: 'system:serviceaccount:ci:deployer' } });
    expect(alertToEcs(alerts[1]!)).to.deep.include({ rule: { id: 'unattributed-break-glass', name: 'Break-glass account used outside any checkout', ruleset: 'kubetrail' } });
    expect((alertToEcs(alerts[1]!) as Record<string, any>).event.severity).to.equal(99);
  });
});
