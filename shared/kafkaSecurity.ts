import { readFileSync } from 'node:fs';
import type { SASLOptions } from 'kafkajs';
import type { Config } from './config.js';
import { ConfigError, errorMessage } from './errors.js';

/**
 * How a Kafka client reaches kafka.brokers: TLS (with a CA file, else the system's) and SASL
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), as cloud brokers ask (MSK, Event Hubs, Confluent
 * Cloud). The password comes from KUBETRAIL_KAFKA_PASSWORD, else kafka.sasl.passwordFile, else
 * kafka.sasl.password; files are read here, at start, and an error names them.
 */
export interface KafkaSecurity {
  ssl?: boolean | { ca?: string[]; rejectUnauthorized: boolean };
  sasl?: SASLOptions;
}

function readConfigFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config ${key}: cannot read ${path} (${errorMessage(err)})`);
  }
}

export function kafkaSecurity(kafka: Readonly<Config['kafka']>, env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const out: KafkaSecurity = {};
  const ssl = kafka.ssl;
  if (ssl === true) out.ssl = true;
  else if (ssl && typeof ssl === 'object') out.ssl = { rejectUnauthorized: ssl.rejectUnauthorized, ...(ssl.caFile ? { ca: [readConfigFile(ssl.caFile, 'kafka.ssl.caFile')] } : {}) };
  const sasl = kafka.sasl;
  if (sasl) {
    const password = env.KUBETRAIL_KAFKA_PASSWORD || (sasl.passwordFile ? readConfigFile(sasl.passwordFile, 'kafka.sasl.passwordFile').trim() : sasl.password);
    if (!password) throw new ConfigError('config kafka.sasl: no password: set KUBETRAIL_KAFKA_PASSWORD, kafka.sasl.passwordFile or kafka.sasl.password');
    if (sasl.mechanism === 'plain' && !out.ssl) {
      throw new ConfigError('config kafka.sasl: mechanism plain sends the password in the clear: set kafka.ssl (true, or {caFile})');
    }
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password } as SASLOptions;
  }
  return out;
}
