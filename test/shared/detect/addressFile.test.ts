import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { isPublicAddress, AddressList } from '../../../shared/detect/addresses.js';
import { watchAddressFile } from '../../../shared/detect/addressFile.js';
import { imageAllowed, imageLocation } from '../../../shared/detect/images.js';
import { tempDir } from '../../helpers.js';

describe('threat addresses and image registries', () => {
  const dir = tempDir();

  it('tells public addresses from private, special and malformed ones, IPv4 written as IPv6 too', () => {
    expect(['203.0.113.9', '8.8.8.8', '2001:4860::8888', '::ffff:203.0.113.9'].map(isPublicAddress)).to.deep.equal([true, true, true, true]);
    expect(['10.1.2.3', '172.20.0.1', '192.168.1.1', '127.0.0.1', '169.254.169.254', '100.64.1.1', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1', 'unknown', ''].map(isPublicAddress)).to.satisfy((xs: boolean[]) => xs.every((x) => !x));
  });

  it('reads a deny file with comments, names the line of a bad entry, and reloads the file when it changes', async function () {
    this.timeout(15_000);
    const file = join(dir, 'deny.txt');
    expect(() => AddressList.ofText('10.0.0.0/8\nnot-an-address\n', file)).to.throw(`${file}:2`);
    writeFileSync(file, '# threat feed\n198.51.100.0/24  # a botnet\n\n2001:db8::/32\n');
    const warnings: string[] = [];
    const watched = watchAddressFile(file, (m) => warnings.push(m));
    try {
      expect(watched.current().find('198.51.100.7')).to.equal('198.51.100.0/24');
      expect(watched.current().find('2001:db8::1')).to.equal('2001:db8::/32');
      expect(watched.current().find('203.0.113.1')).to.equal(null);
      writeFileSync(file, '203.0.113.0/24\n');
      await until(() => watched.current().find('203.0.113.1') !== null);
      expect(watched.current().find('198.51.100.7')).to.equal(null);
      // A bad edit keeps the list and says so.
      writeFileSync(file, '203.0.113.0/24\n300.1.1.1\n');
      await until(() => warnings.length > 0);
      expect(warnings[0]).to.contain(`${file}:2`).and.contain('keeping the 1 address(es)');
      expect(watched.current().find('203.0.113.1')).to.equal('203.0.113.0/24');
    } finally {
      watched.close();
    }
  });

  it('refuses a deny file it cannot read at start', () => {
    expect(() => watchAddressFile(join(dir, 'missing.txt'), () => {})).to.throw(/detections.denyAddressesFile: cannot read .*missing.txt/);
  });

  it('places images as the runtime does and matches allowed registries whole components at a time', () => {
    expect(imageLocation('nginx:1.27')).to.equal('docker.io/library/nginx');
    expect(imageLocation('bitnami/redis')).to.equal('docker.io/bitnami/redis');
    expect(imageLocation('registry.acme.io:5000/app@sha256:abc')).to.equal('registry.acme.io:5000/app');
    expect(imageAllowed('registry.acme.io/team/app:1', ['registry.acme.io'])).to.equal(true);
    expect(imageAllowed('registry.acme.io.evil.net/app', ['registry.acme.io'])).to.equal(false);
    expect(imageAllowed('registry.acme.io:5000/app', ['registry.acme.io'])).to.equal(false);
    expect(imageAllowed('ghcr.io/acme-evil/app', ['ghcr.io/acme'])).to.equal(false);
    expect(imageAllowed('nginx', ['docker.io/library'])).to.equal(true);
  });
});

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(done(), 'waited 10 s').to.equal(true);
}
