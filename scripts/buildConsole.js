// Bundles the web console (services/console) into dist/console: one script, one stylesheet,
// the page. Everything it needs ships in the package; nothing is fetched from a CDN.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/console';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'services/console/main.tsx' },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync('services/console/index.html', `${out}/index.html`);
