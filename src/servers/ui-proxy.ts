import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UiProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * The Temporal Web UI and our codec on one origin, for the local stack. The UI fetches the codec without
 * credentials unless a user ticks "Include cross-origin credentials" in its settings (the dev server has
 * no flag for it), so a codec on another origin never sees the sign-in cookie and the UI opens on a red
 * banner and ciphertext. Served from the UI's own origin, the codec gets the cookie (same-origin requests
 * carry it) with no setting to tick; payloads stay encrypted in Temporal, and the codec still asks who
 * calls: without a signed-in browser (or a key) it answers 401 as before.
 * Everything under /codec/ goes to the API, the rest to the UI server; bodies stream through unchanged.
 */
export async function startUiProxy(opts: { host: string; port: number; ui: { host: string; port: number }; api: { host: string; port: number } }): Promise<UiProxy> {
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const target = (req.url ?? '/').startsWith('/codec/') ? opts.api : opts.ui;
    const upstream = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${target === opts.api ? 'the API' : 'the Temporal UI'} is not answering: ${err.message}\n`);
    });
    req.pipe(upstream);
  };
  const server = createServer(forward);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host === '127.0.0.1' || opts.host === '0.0.0.0' ? 'localhost' : opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
