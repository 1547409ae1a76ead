import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/** Where the build puts the web console (scripts/buildConsole.js): dist/console beside dist/services. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

/**
 * The web console at `/`: static files from the package, no CDN. It talks to /api/v1 with the
 * signed-in token, so these files need none; a strict Content-Security-Policy keeps the page
 * to its own script and the API.
 */
export function consoleRouter(dir = CONSOLE_DIR): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  });
  if (!existsSync(`${dir}/index.html`)) {
    router.get('/', (_req, res) => {
      res.status(503).type('text/plain').send('The web console is not built: run npm run build. The API is at /api/v1.');
    });
    return router;
  }
  router.use(express.static(dir, { index: 'index.html', maxAge: 0, fallthrough: true }));
  return router;
}
