import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';

/**
 * docker-compose.yml and the Dockerfile cannot run here (no container engine): they are
 * parsed and checked for what kubetrail needs of them.
 */
describe('container deployment files (validated, not run)', () => {
  it('compose: a one-node KRaft Kafka and kubetrail consuming from it, with the database on a volume', () => {
    const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8'));
    expect(Object.keys(compose.services)).to.have.members(['kafka', 'kubetrail']);
    const kafka = compose.services.kafka;
    expect(kafka.image).to.match(/^apache\/kafka:4\./);
    expect(kafka.environment.KAFKA_PROCESS_ROLES).to.equal('broker,controller');
    expect(kafka.environment.KAFKA_ADVERTISED_LISTENERS).to.contain('kafka:9092');
    const kt = compose.services.kubetrail;
    expect(kt.build).to.equal('.');
    expect(kt.environment.KAFKA_BROKERS).to.equal('kafka:9092');
    expect(kt.depends_on.kafka.condition).to.equal('service_healthy');
    expect(kt.ports).to.include('8080:8080');
    const [volume, mount] = String(kt.volumes[0]).split(':');
    expect(mount).to.equal('/data');
    expect(kt.environment.KUBETRAIL_DB).to.match(/^\/data\//);
    expect(compose.volumes).to.have.property(volume!);
  });

  it('Dockerfile: node:20-slim, production dependencies only, a non-root user', () => {
    const lines = readFileSync('Dockerfile', 'utf8').split('\n');
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.every((l) => l.startsWith('FROM node:20-slim'))).to.equal(true);
    expect(lines).to.include('RUN npm run build && npm prune --omit=dev');
    expect(lines).to.include('USER node');
    expect(lines.at(-1) === '' ? lines.at(-2) : lines.at(-1)).to.equal('CMD ["serve"]');
  });
});
