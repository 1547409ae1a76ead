import { open } from 'node:fs/promises';
import type { KafkaSecurity } from '../../shared/kafkaSecurity.js';
import { ALERT_DOCUMENTS } from '../../shared/siem/siemDocuments.js';
import type { SiemSchema } from '../../shared/siem/siemFields.js';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { identityText, type AlertRow } from '../../shared/storage/sqlite/queries/alertQuery.js';

/** What an alert is sent as (a sink's `schema`): kubetrail's JSON, an OCSF Detection Finding, an ECS alert. */
export type AlertSchema = 'kubetrail' | SiemSchema;

/** Where alerts go (config `alerts.sinks`). */
export type SinkConfig =
  | { name: string; type: 'stdout'; schema?: AlertSchema }
  | { name: string; type: 'webhook'; url: string; headers?: Record<string, string>; schema?: AlertSchema }
  | { name: string; type: 'slack'; url: string }
  | { name: string; type: 'alertmanager'; url: string }
  | { name: string; type: 'kafka'; brokers: string[]; topic: string; schema?: AlertSchema }
  | { name: string; type: 'file'; path: string; schema?: AlertSchema };

/** An alert as its sink's schema has it. */
function documentOf(schema: AlertSchema = 'kubetrail'): (a: AlertRow) => unknown {
  return schema === 'kubetrail' ? (a) => ({ kind: 'kubetrail.alert', ...a }) : ALERT_DOCUMENTS[schema];
}

/** A sink: sends alerts, resolving once the receiver has accepted them, rejecting otherwise. */
export interface Sink {
  readonly name: string;
  send(alerts: AlertRow[]): Promise<void>;
  close(): Promise<void>;
}

/** Requests a receiver takes longer than this to answer count as failed (and are retried). */
const TIMEOUT_MS = 10_000;

export async function createSink(config: SinkConfig & { security?: KafkaSecurity }, out: NodeJS.WritableStream = process.stdout): Promise<Sink> {
  switch (config.type) {
    case 'stdout': {
      const document = documentOf(config.schema);
      return {
        name: config.name,
        send: async (alerts) => {
          for (const a of alerts) out.write(JSON.stringify(document(a)) + '\n');
        },
        close: async () => undefined,
      };
    }
    case 'file':
      return fileSink(config.name, config.path, documentOf(config.schema));
    case 'webhook': {
      // kubetrail's own shape is one object; a SIEM's is the list of its documents.
      const document = documentOf(config.schema);
      const body = config.schema && config.schema !== 'kubetrail' ? (alerts: AlertRow[]) => alerts.map(document) : (alerts: AlertRow[]) => ({ kind: 'kubetrail.alerts', alerts });
      return httpSink(config.name, config.url, body, config.headers);
    }
    case 'slack':
      // One message per alert keeps Slack's formatting and its 40,000-character limit simple.
      return {
        name: config.name,
        send: async (alerts) => {
          for (const a of alerts) await post(config.url, { text: slackText(a) });
        },
        close: async () => undefined,
      };
    case 'alertmanager':
      return httpSink(config.name, new URL('/api/v2/alerts', config.url).toString(), (alerts) => alerts.map(alertmanagerAlert));
    case 'kafka':
      return kafkaSink(config.name, config.brokers, config.topic, config.security ?? {}, config.schema && config.schema !== 'kubetrail' ? ALERT_DOCUMENTS[config.schema] : (a) => a);
  }
}

function httpSink(name: string, url: string, body: (alerts: AlertRow[]) => unknown, headers?: Record<string, string>): Sink {
  return { name, send: (alerts) => post(url, body(alerts), headers), close: async () => undefined };
}

/** POSTs JSON; anything but a 2xx answer in time is a failure naming the status. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
}

const SLACK_ICON: Record<string, string> = { critical: ':rotating_light:', high: ':warning:', medium: ':large_orange_diamond:', low: ':information_source:' };

/** Slack's control characters in text (https://api.slack.com/reference/surfaces/formatting#escaping): event text cannot mention <!channel> or forge a link. */
export const slackEscape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function slackText(a: AlertRow): string {
  const who = a.person ? `${identityText(a.actor)} (${identityText(a.person)})` : identityText(a.actor);
  const times = a.count > 1 ? ` ×${a.count}` : '';
  const e = slackEscape;
  return `${SLACK_ICON[a.severity] ?? ''} *${a.severity.toUpperCase()}* \`${e(a.rule)}\`${times} on ${e(a.cluster)}: ${e(a.message)}\nactor ${e(who)} · ${a.time} · PCI DSS ${a.pci.join(', ')} · alert #${a.id}`;
}

/** Prometheus Alertmanager API v2 (`POST /api/v2/alerts`): labels identify, annotations describe. */
function alertmanagerAlert(a: AlertRow): Record<string, unknown> {
  return {
    labels: { alertname: a.rule, severity: a.severity, cluster: a.cluster, actor: identityText(a.actor), source: 'kubetrail', kubetrail_alert_id: String(a.id) },
    annotations: {
      summary: a.message,
      person: identityText(a.person),
      count: String(a.count),
      pci: a.pci.join(', '),
      auditIDs: a.auditIDs.slice(0, 20).join(' '),
    },
    startsAt: a.time,
  };
}

/**
 * Appends one JSON line per alert to a file a SIEM's agent tails (Filebeat, Fluent Bit, the
 * Splunk forwarder), creating it readable by its owner only. Resolves once the lines are on disk.
 */
function fileSink(name: string, path: string, document: (a: AlertRow) => unknown): Sink {
  return {
    name,
    send: async (alerts) => {
      const handle = await open(path, 'a', 0o600);
      try {
        await handle.appendFile(alerts.map((a) => JSON.stringify(document(a)) + '\n').join(''));
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    close: async () => undefined,
  };
}

async function kafkaSink(name: string, brokers: string[], topic: string, security: KafkaSecurity, document: (a: AlertRow) => unknown): Promise<Sink> {
  const client = new Kafka({ clientId: `kubetrail-alerter-${name}`, brokers, ...security, logLevel: logLevel.NOTHING });
  const producer: Producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
  let connected: Promise<void> | null = null;
  return {
    name,
    send: async (alerts) => {
      // Connect lazily, and again after a failure: a broker that is down now may be up later.
      connected ??= producer.connect().catch((err: unknown) => {
        connected = null;
        throw err;
      });
      await connected;
      await producer.send({ topic, acks: -1, messages: alerts.map((a) => ({ key: String(a.id), value: JSON.stringify(document(a)) })) });
    },
    close: () => producer.disconnect(),
  };
}
