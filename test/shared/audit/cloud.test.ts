import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import { parsePayload } from '../../../shared/audit/parsePayload.js';
import type { AuditEvent, ParseOutcome, ParsedEvent } from '../../../shared/audit/types.js';
import { parseLines } from '../../../services/ingest/lines.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'cloud');
const text = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const json = (name: string) => JSON.parse(text(name).replace(/^\uFEFF/, '')) as unknown;

function payload(value: unknown, position = 'p'): ParseOutcome {
  const out = parsePayload(value, position);
  if ('notAudit' in out) throw new Error(out.notAudit);
  return out;
}

function native(name: string): ParsedEvent {
  const r = parseEvent(json(name), name);
  if (!('event' in r)) throw new Error(r.reason);
  return r;
}

/** The fields a stored action is made of, for comparing a provider's record with the native Event. */
function essentials(p: ParsedEvent): Record<string, unknown> {
  const e: AuditEvent = p.event;
  return {
    auditID: e.auditID, stage: e.stage, verb: e.verb, requestURI: e.requestURI, user: e.user, impersonatedUser: e.impersonatedUser, sourceIPs: e.sourceIPs,
    userAgent: e.userAgent, objectRef: e.objectRef, code: e.responseStatus?.code, annotations: e.annotations, receivedAt: p.receivedAt, stageAt: p.stageAt,
  };
}

describe('managed clusters: audit logs as EKS, GKE and AKS deliver them', () => {
  describe('EKS (CloudWatch Logs)', () => {
    const eks = () => native('eks-native-event.json');

    it('reads a subscription payload: each message as its Event, in the cluster of the log group, and quarantines a truncated message', () => {
      const out = payload(json('eks-subscription.json'));
      expect(out.events).to.have.length(2);
      expect(essentials(out.events[0]!)).to.deep.equal(essentials(eks()));
      expect(out.events.map((e) => e.cluster)).to.deep.equal(['prod-eu', 'prod-eu']);
      expect(out.events[0]!.position).to.equal('p logEvents 0');
      // The IAM identity is kept whole: ARN, session name and access key id.
      expect(out.events[0]!.event.user.extra).to.deep.include({ sessionName: ['alice@example.com'], accessKeyId: ['ASIAEXAMPLEKEY'] });
      expect(out.rejected).to.have.length(1);
      expect(out.rejected[0]!).to.include({ position: 'p logEvents 2' });
      expect(out.rejected[0]!.reason).to.match(/truncated this message.*\[Truncated\.\.\.\]/);
    });

    it('reads the payload as Kinesis and Firehose carry it (gzip, then base64), on a line of its own', () => {
      const out = parseLines(text('eks-subscription.json.b64'), 'f');
      expect(out.events.map((e) => e.event.auditID)).to.deep.equal(payload(json('eks-subscription.json')).events.map((e) => e.event.auditID));
      expect(out.rejected).to.have.length(1);
    });

    it('skips control messages and the group\'s other logs, counting them, and quarantines nothing', () => {
      expect(payload(json('eks-control.json'))).to.deep.equal({ events: [], rejected: [], skipped: 1 });
      expect(payload(json('eks-authenticator.json'))).to.deep.equal({ events: [], rejected: [], skipped: 1 });
    });

    it('reads exported log events, one per line, and filter-log-events output whole', () => {
      const lines = parseLines(text('eks-export.jsonl'), 'f');
      expect(lines.rejected).to.deep.equal([]);
      expect(lines.events.map((e) => e.event.verb)).to.deep.equal(['get', 'list']);
      expect(essentials(lines.events[0]!)).to.deep.equal(essentials(eks()));
      const whole = payload(json('eks-filter-log-events.json'));
      expect(whole.events.map(essentials)).to.deep.equal([essentials(eks())]);
    });

    it('reads a Logs Insights export, the message as JSON text or as an object', () => {
      const out = payload(json('eks-insights.json'));
      expect(out.rejected).to.deep.equal([]);
      expect(out.events.map((e) => `${e.cluster} ${e.event.verb}`)).to.deep.equal(['prod-eu get', 'prod-eu list']);
      expect(essentials(out.events[0]!)).to.deep.equal(essentials(eks()));
    });
  });

  describe('GKE (Cloud Audit Logs)', () => {
    const entries = () => payload(json('gke-gcloud-read.json'));

    it('rebuilds the Event an entry stands for: verb, subresource, objectRef, user, decision, status, bodies, time', () => {
      const out = entries();
      expect(out.rejected).to.deep.equal([]);
      expect(essentials(out.events[0]!)).to.deep.equal(essentials(native('gke-native-exec.json')));
      expect(out.events[0]!.event.requestObject).to.deep.equal(native('gke-native-exec.json').event.requestObject);
      expect(out.events[0]!.cluster).to.equal('shop-eu');
    });

    it('maps gRPC status codes to HTTP, the decision from authorizationInfo, groups as GKE gives them (none)', () => {
      const [, denied, secret, probe] = entries().events.map((e) => e.event);
      expect(denied).to.deep.include({ verb: 'create', requestURI: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/ci-admin' });
      expect(denied!.objectRef).to.deep.equal({ resource: 'clusterrolebindings', name: 'ci-admin', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' });
      expect(denied!.responseStatus!.code).to.equal(403);
      expect(denied!.annotations!['authorization.k8s.io/decision']).to.equal('forbid');
      expect(denied!.user).to.deep.equal({ username: 'deployer@shop-prod.iam.gserviceaccount.com' });
      // No operation.id: the insertId identifies it.
      expect(secret!.auditID).to.equal('ins-3');
      expect(secret!.objectRef).to.deep.include({ resource: 'secrets', namespace: 'shop', name: 'stripe-key' });
      expect(probe).to.deep.include({ requestURI: '/healthz', verb: 'get' });
      expect(probe!.objectRef).to.equal(undefined);
      expect(probe!.responseStatus!.code).to.equal(401);
    });

    it('skips the cluster-management entries (container.googleapis.com), counting them', () => {
      expect(entries().skipped).to.equal(1);
      const lines = parseLines(text('gke-entries.jsonl'), 'f');
      expect(lines.events.map(essentials)).to.deep.equal(entries().events.map((e) => ({ ...essentials(e) })));
      expect(lines.skipped).to.equal(1);
    });

    it('reads an entry from a Pub/Sub push message', () => {
      const out = payload(json('gke-pubsub-push.json'));
      expect(out.events.map((e) => `${e.cluster} ${e.event.user.username} ${e.event.verb}`)).to.deep.equal(['shop-eu system:serviceaccount:shop:checkout get']);
    });
  });

  describe('AKS (diagnostic settings)', () => {
    it('reads an Event Hub payload, the log as JSON text or an object, in the cluster of the resourceId, skipping other categories and non-audit lines', () => {
      const out = payload(json('aks-event-hub.json'));
      expect(out.rejected).to.deep.equal([]);
      expect(out.skipped).to.equal(2);
      expect(out.events.map((e) => `${e.cluster} ${e.event.verb}`)).to.deep.equal(['ORDERS-AKS patch', 'ORDERS-AKS get']);
      expect(essentials(out.events[0]!)).to.deep.equal(essentials(native('aks-native-event.json')));
    });

    it('reads a storage-account archive (JSON lines with a byte order mark) and the pretty-printed payload as files', () => {
      const lines = parseLines(text('aks-storage.jsonl'), 'f');
      expect(lines.events.map((e) => e.event.auditID)).to.deep.equal(payload(json('aks-event-hub.json')).events.map((e) => e.event.auditID));
      expect(lines.skipped).to.equal(2);
      expect(lines.rejected).to.deep.equal([]);
    });
  });
});
