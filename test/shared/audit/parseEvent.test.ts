import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import { parsePayload } from '../../../shared/audit/parsePayload.js';
import type { ParsedEvent, RejectedInput } from '../../../shared/audit/types.js';
import { makeEvent } from '../../helpers.js';

function accepted(r: ParsedEvent | RejectedInput): ParsedEvent {
  if (!('event' in r)) throw new Error(`expected an event, got rejection: ${r.reason}`);
  return r;
}

function rejected(r: ParsedEvent | RejectedInput): RejectedInput {
  if ('event' in r) throw new Error('expected a rejection, got an event');
  return r;
}

/** The same request as the apiserver of 1.12–1.23 would have written it in v1beta1. */
function asV1beta1(e: Record<string, unknown>): Record<string, unknown> {
  return {
    ...e,
    apiVersion: 'audit.k8s.io/v1beta1',
    metadata: { creationTimestamp: e.stageTimestamp },
    timestamp: String(e.requestReceivedTimestamp).replace(/\.\d+Z$/, 'Z'),
  };
}

describe('parseEvent', () => {
  it('accepts a v1 Event as it is', () => {
    const e = makeEvent();
    const r = accepted(parseEvent(e, 'x:1'));
    expect(r.sourceVersion).to.equal('audit.k8s.io/v1');
    expect(r.versionInferred).to.equal(false);
    expect(r.event).to.deep.equal(e);
    expect(r.position).to.equal('x:1');
  });

  it('normalizes v1beta1 and v1 of the same request to the same event', () => {
    const v1 = makeEvent({ objectRef: { resource: 'deployments', namespace: 'a', name: 'd', apiGroup: 'apps', apiVersion: 'v1' } });
    const beta = accepted(parseEvent(asV1beta1(v1), 'x:1'));
    expect(beta.sourceVersion).to.equal('audit.k8s.io/v1beta1');
    expect(beta.event).to.deep.equal(accepted(parseEvent(v1, 'x:2')).event);
  });

  it('normalizes v1alpha1 objectRef.apiVersion group/version into apiGroup and apiVersion', () => {
    const v1 = makeEvent({ objectRef: { resource: 'deployments', namespace: 'a', name: 'd', apiGroup: 'apps', apiVersion: 'v1' } });
    const alpha = { ...asV1beta1(v1), apiVersion: 'audit.k8s.io/v1alpha1', objectRef: { resource: 'deployments', namespace: 'a', name: 'd', apiVersion: 'apps/v1' } };
    const r = accepted(parseEvent(alpha, 'x:1'));
    expect(r.sourceVersion).to.equal('audit.k8s.io/v1alpha1');
    expect(r.event).to.deep.equal(v1);
    const core = accepted(parseEvent({ ...alpha, objectRef: { resource: 'pods', apiVersion: 'v1' } }, 'x:2'));
    expect(core.event.objectRef).to.deep.equal({ resource: 'pods', apiVersion: 'v1' });
  });

  it('takes 1.8-era times from timestamp and metadata.creationTimestamp', () => {
    const e: Record<string, unknown> = asV1beta1(makeEvent());
    delete e.requestReceivedTimestamp;
    delete e.stageTimestamp;
    const r = accepted(parseEvent(e, 'x:1'));
    expect(r.event.requestReceivedTimestamp).to.equal('2026-07-23T14:47:51Z');
    expect(r.event.stageTimestamp).to.equal('2026-07-23T14:47:51.130001Z');
    expect(r.event).to.not.have.property('timestamp');
    expect(r.event).to.not.have.property('metadata');
  });

  it('treats null times of v1beta1 events (a zero MicroTime) as absent', () => {
    const e: Record<string, unknown> = { ...asV1beta1(makeEvent()), requestReceivedTimestamp: null, stageTimestamp: null };
    const r = accepted(parseEvent(e, 'x:1'));
    expect([r.event.requestReceivedTimestamp, r.event.stageTimestamp]).to.deep.equal(['2026-07-23T14:47:51Z', '2026-07-23T14:47:51.130001Z']);
  });

  it('infers the version of events that lost apiVersion, and says so', () => {
    const v1: Record<string, unknown> = makeEvent();
    delete v1.apiVersion;
    const r1 = accepted(parseEvent(v1, 'x:1'));
    expect([r1.sourceVersion, r1.versionInferred]).to.deep.equal(['audit.k8s.io/v1', true]);
    const beta = asV1beta1(makeEvent());
    delete beta.apiVersion;
    delete beta.kind;
    const r2 = accepted(parseEvent(beta, 'x:2'));
    expect([r2.sourceVersion, r2.versionInferred]).to.deep.equal(['audit.k8s.io/v1beta1', true]);
  });

  it('keeps fields it does not know', () => {
    const e = makeEvent({ authenticationMetadata: { impersonationConstraint: 'impersonate-on:user-info:get' } });
    expect(accepted(parseEvent(e, 'x:1')).event.authenticationMetadata).to.deep.equal({ impersonationConstraint: 'impersonate-on:user-info:get' });
  });

  it('accepts an empty user (failed authentication) and an empty verb', () => {
    const e = makeEvent({ user: {}, verb: '', stage: 'ResponseStarted', responseStatus: { metadata: {}, code: 401 } });
    expect(accepted(parseEvent(e, 'x:1')).event.user).to.deep.equal({});
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['a wrong apiVersion', { apiVersion: 'audit.k8s.io/v2' }, /^apiVersion: expected one of audit.k8s.io\/v1, .* got "audit.k8s.io\/v2"/],
    ['a wrong kind', { kind: 'Pod' }, /^kind: expected "Event", got "Pod"/],
    ['no auditID', { auditID: undefined }, /^auditID: missing \(expected a non-empty string\)/],
    ['an unknown stage', { stage: 'Done' }, /^stage: expected one of RequestReceived, .* got "Done"/],
    ['an unknown level', { level: 'Everything' }, /^level: expected one of None, /],
    ['a bad time', { requestReceivedTimestamp: 'yesterday' }, /^requestReceivedTimestamp: expected an RFC 3339 time, got "yesterday"/],
    ['an impossible date', { stageTimestamp: '2026-02-30T00:00:00Z' }, /^stageTimestamp: expected an RFC 3339 time/],
    ['groups that are not strings', { user: { username: 'a', groups: [1] } }, /^user.groups: expected a list of strings, got a list/],
    ['extra that is not a list', { user: { username: 'a', extra: { k: 'v' } } }, /^user.extra\["k"\]: expected a list of strings, got "v"/],
    ['no user', { user: undefined }, /^user: missing/],
    ['a code that is not a number', { responseStatus: { code: '200' } }, /^responseStatus.code: expected an integer, got "200"/],
    ['a non-string annotation', { annotations: { a: 1 } }, /^annotations\["a"\]: expected a string, got 1/],
    ['a non-string objectRef field', { objectRef: { resource: 'pods', name: 7 } }, /^objectRef.name: expected a string, got 7/],
  ];
  for (const [what, change, reason] of bad) {
    it(`rejects ${what}, naming the field`, () => {
      const e: Record<string, unknown> = { ...makeEvent(), ...change };
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete e[k];
      const r = rejected(parseEvent(e, 'audit.log:7'));
      expect(r.reason).to.match(reason);
      expect(r.position).to.equal('audit.log:7');
      expect(JSON.parse(String(r.raw))).to.deep.equal(e);
    });
  }

  it('rejects a non-event without apiVersion, naming what is missing', () => {
    expect(rejected(parseEvent({ foo: 1 }, 'f:1')).reason).to.match(/no apiVersion, and auditID, stage, verb missing/);
  });
});

describe('parsePayload', () => {
  it('reads EventList items by the list apiVersion when they carry none, each alone', () => {
    const good = makeEvent();
    const { apiVersion: _a, kind: _k, ...bare } = asV1beta1(makeEvent());
    const list = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1beta1', metadata: {}, items: [bare, { ...good, stage: 'Nope' }, good] };
    const out = parsePayload(list, '');
    if ('notAudit' in out) throw new Error(out.notAudit);
    expect(out.events.map((e) => [e.position, e.sourceVersion, e.versionInferred])).to.deep.equal([
      ['item 0', 'audit.k8s.io/v1beta1', false],
      ['item 2', 'audit.k8s.io/v1', false],
    ]);
    expect(out.rejected.map((r) => [r.position, r.reason.split(':')[0]])).to.deep.equal([['item 1', 'stage']]);
  });

  it('reads a JSON array of events and a single event', () => {
    const a = parsePayload([makeEvent(), makeEvent()], 'f:3');
    expect('events' in a && a.events.map((e) => e.position)).to.deep.equal(['f:3 item 0', 'f:3 item 1']);
    const one = parsePayload(makeEvent(), 'f:4');
    expect('events' in one && one.events.length).to.equal(1);
  });

  it('treats an EventList with no items as empty', () => {
    expect(parsePayload({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: null }, '')).to.deep.equal({ events: [], rejected: [] });
  });

  const notAudit: [string, unknown, RegExp][] = [
    ['a number', 42, /expected an audit.k8s.io Event or EventList, got 42/],
    ['a Pod', { kind: 'Pod', apiVersion: 'v1' }, /kind: expected "Event" or "EventList", got "Pod"/],
    ['Falco\'s {"kind": 0}', { kind: 0 }, /kind: expected "Event" or "EventList", got 0/],
    ['an EventList of another API', { kind: 'EventList', apiVersion: 'v1', items: [] }, /EventList apiVersion: expected one of/],
  ];
  for (const [what, value, reason] of notAudit) {
    it(`says ${what} is not audit input`, () => {
      const out = parsePayload(value, '');
      expect(out).to.have.property('notAudit').that.matches(reason);
    });
  }
});
