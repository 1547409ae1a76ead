import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { CONSOLE_DIR, consoleRouter } from '../../../services/api/console.js';
import { tempDir } from '../../helpers.js';

/** The web console's files as kubetrail serves them (the browser tests in test/e2e/console.test.ts use them). */
describe('web console files', () => {
  async function serveFrom(dir?: string): Promise<{ url: string; close(): void }> {
    const app = express();
    app.use(consoleRouter(dir));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
  }

  it('serves the built page, script and styles from the package, under a strict Content-Security-Policy', async () => {
    const s = await serveFrom();
    try {
      const page = await fetch(`${s.url}/`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).to.contain("script-src 'self'").and.contain("connect-src 'self'").and.contain("frame-ancestors 'none'");
      expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
      const html = await page.text();
      // Every asset is local: no CDN, no other origin.
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(assets).to.deep.equal(['app.css', 'app.js']);
      for (const asset of assets) {
        const res = await fetch(`${s.url}/${asset}`);
        expect(res.status, asset).to.equal(200);
        expect(res.headers.get('content-type')).to.match(asset.endsWith('.js') ? /javascript/ : /text\/css/);
        expect(await res.text()).to.equal(readFileSync(join(CONSOLE_DIR, asset), 'utf8'));
      }
    } finally {
      s.close();
    }
  });

  it('says how to build the console when it is not built, rather than a bare 404', async () => {
    const s = await serveFrom(tempDir());
    try {
      const res = await fetch(`${s.url}/`);
      expect(res.status).to.equal(503);
      expect(await res.text()).to.contain('npm run build');
    } finally {
      s.close();
    }
  });
});
