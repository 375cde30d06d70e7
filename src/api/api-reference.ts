import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type Response } from 'express';

/** swagger-ui-dist's folder, found without loading its 1.5 MB bundle into the API process. */
const SWAGGER_UI = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Scripts only from here, no inline script or eval: the page works under this policy. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Swagger UI sets style attributes from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lifecycle orchestrator API reference</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/api-reference.js"></script>
</body>
</html>
`;

const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
});
`;

const ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png'];

/**
 * GET /docs: the OpenAPI document rendered by Swagger UI, its files served from node_modules (no CDN), its
 * initializer a file of ours, so the page needs no inline script. Public, like /openapi.json.
 */
export function apiReference(): express.Router {
  const router = express.Router();
  const secure = (res: Response) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
  };
  router.get('/', (_req, res) => {
    secure(res);
    res.type('html').send(PAGE);
  });
  router.get('/api-reference.js', (_req, res) => {
    secure(res);
    res.type('js').send(INITIALIZER);
  });
  for (const asset of ASSETS) {
    router.get(`/${asset}`, (_req, res, next) => {
      secure(res);
      res.sendFile(join(SWAGGER_UI, asset), { maxAge: '1d' }, (err) => err && next(err));
    });
  }
  return router;
}
