import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULTS, loadConfig, type Config } from '../../shared/config.js';
import { kafkaSecurity } from '../../shared/kafkaSecurity.js';
import { tempDir } from '../helpers.js';

describe('Kafka TLS and SASL settings', () => {
  const dir = tempDir();
  const kafka = (o: Partial<Config['kafka']>): Config['kafka'] => ({ ...DEFAULTS.kafka, brokers: ['b:9093'], ...o });

  it('reads the CA and password files, and takes the password from KUBETRAIL_KAFKA_PASSWORD first', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    const pw = join(dir, 'pw');
    writeFileSync(pw, 's3cret\n');
    const s = kafkaSecurity(kafka({ ssl: { caFile: ca, rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: 'kt', passwordFile: pw } }), {});
    expect(s).to.deep.equal({ ssl: { rejectUnauthorized: true, ca: ['-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n'] }, sasl: { mechanism: 'scram-sha-512', username: 'kt', password: 's3cret' } });
    expect(kafkaSecurity(kafka({ ssl: true, sasl: { mechanism: 'plain', username: '$ConnectionString', passwordFile: pw } }), { KUBETRAIL_KAFKA_PASSWORD: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v' }).sasl)
      .to.deep.include({ mechanism: 'plain', username: '$ConnectionString', password: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v' });
    expect(kafkaSecurity(kafka({}), {})).to.deep.equal({});
  });

  it('refuses PLAIN without TLS, SASL without a password, and a file it cannot read, naming the key', () => {
    expect(() => kafkaSecurity(kafka({ sasl: { mechanism: 'plain', username: 'kt', password: 'x' } }), {})).to.throw(/kafka.sasl: mechanism plain sends the password in the clear/);
    expect(() => kafkaSecurity(kafka({ ssl: true, sasl: { mechanism: 'scram-sha-256', username: 'kt' } }), {})).to.throw(/kafka.sasl: no password/);
    expect(() => kafkaSecurity(kafka({ ssl: { caFile: join(dir, 'missing.pem'), rejectUnauthorized: true } }), {})).to.throw(/kafka.ssl.caFile: cannot read .*missing.pem/);
    const file = join(dir, 'k.yaml');
    writeFileSync(file, 'kafka:\n  sasl:\n    mechanism: gssapi\n    username: kt\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(/config kafka.sasl.mechanism/);
  });
});
