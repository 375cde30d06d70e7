import http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';

/** A free port on the loopback interface, for the Temporal SDK's own exporter behind ours. */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface WorkerMetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** The Temporal SDK's Prometheus exporter (Core binds it on loopback); its text follows ours. */
  temporalMetricsUrl?: string;
}

export interface WorkerMetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics for the worker: our counters and process metrics, then the Temporal SDK's runtime metrics
 * (`temporal_*`: task slots, poll and schedule-to-start latencies, activity and workflow task outcomes),
 * so Prometheus scrapes one target per worker. Bound to loopback unless WORKER_METRICS_HOST says otherwise.
 */
export async function startWorkerMetricsServer(opts: WorkerMetricsServerOptions): Promise<WorkerMetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: GET /metrics\n');
      return;
    }
    void (async () => {
      const ours = await opts.registry.metrics();
      let temporal = '';
      if (opts.temporalMetricsUrl) {
        temporal = await fetch(opts.temporalMetricsUrl, { signal: AbortSignal.timeout(2_000) })
          .then((r) => (r.ok ? r.text() : `# Temporal SDK metrics: HTTP ${r.status}\n`))
          .catch((err: Error) => `# Temporal SDK metrics unavailable: ${err.message}\n`);
      }
      res.writeHead(200, { 'content-type': opts.registry.contentType }).end(`${ours}${ours.endsWith('\n') ? '' : '\n'}${temporal}`);
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`# metrics failed: ${err.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port, opts.host, resolve));
  const { port } = server.address() as net.AddressInfo;
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
