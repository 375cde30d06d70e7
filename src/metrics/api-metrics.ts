import type { Request, RequestHandler, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What an event counter says about the call: its type, or `batch` for a batch refused before its items were read. */
type EventType = 'track' | 'identify' | 'batch' | 'other';
const EVENT_ROUTES: Record<string, EventType> = { '/v1/track': 'track', '/v1/identify': 'identify', '/v1/batch': 'batch' };

/** Why an event was refused, from the status the API answered with. */
export function rejectionReason(status: number): string {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'error';
  }
}

/** The Express route pattern that answered (`/v1/customers/:userId`), never the URL with its ids. */
function routeOf(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return `${req.baseUrl ?? ''}${route}`;
  return 'unmatched';
}

export interface DeliveryRecordCount {
  status: string;
  kind: string;
  count: number;
}

export interface ApiMetricsOptions {
  /** Deliveries recorded in MongoDB by status, read at scrape time (all workers' outcomes in one place). */
  deliveryRecords?: () => Promise<DeliveryRecordCount[]>;
  /** How long a scrape waits for deliveryRecords before leaving that gauge out. */
  deliveryRecordsTimeoutMs?: number;
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/**
 * The API process's Prometheus metrics, in a registry of its own (two apps in one test process do not
 * share counters). Requests are counted when their headers are written, so a response the caller has
 * seen is always counted by the time it can ask /metrics.
 */
export function createApiMetrics(opts: ApiMetricsOptions = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status.', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its response headers, by method, route pattern and status.',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const accepted = new Counter({
    name: 'lifecycle_events_accepted_total',
    help: 'Events durably accepted (track and identify calls, and batch items), by type.',
    labelNames: ['type'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'lifecycle_events_rejected_total',
    help: 'Events refused or not stored, by type and reason (invalid, unauthenticated, forbidden, too_large, unsupported_media_type, rate_limited, unavailable, error).',
    labelNames: ['type', 'reason'],
    registers: [registry],
  });
  if (opts.deliveryRecords) {
    const read = opts.deliveryRecords;
    const timeoutMs = opts.deliveryRecordsTimeoutMs ?? 2_000;
    new Gauge({
      name: 'lifecycle_delivery_records',
      help: 'Deliveries recorded in MongoDB by status and kind, read at scrape time; absent while MongoDB cannot be read.',
      labelNames: ['status', 'kind'],
      registers: [registry],
      async collect() {
        this.reset();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
        });
        try {
          for (const row of await Promise.race([read(), timeout])) this.set({ status: row.status, kind: row.kind }, row.count);
        } catch {
          // Leave the gauge empty: a scrape must answer even while MongoDB is down.
        } finally {
          clearTimeout(timer);
        }
      },
    });
  }

  /** Batch responses whose items were counted one by one (the rest count as one refused batch). */
  const batchesCounted = new WeakSet<Response>();
  const countEvents = (res: Response, route: string, status: number) => {
    const type = EVENT_ROUTES[route];
    if (!type || (type === 'batch' && batchesCounted.has(res))) return;
    if (type !== 'batch' && status >= 200 && status < 300) accepted.inc({ type });
    else rejected.inc({ type, reason: rejectionReason(status) });
  };

  const middleware: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: unknown[]) {
      res.writeHead = writeHead;
      const status = typeof args[0] === 'number' ? args[0] : res.statusCode;
      const labels = { method: req.method, route: routeOf(req), status: String(status) };
      requests.inc(labels);
      duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      countEvents(res, labels.route, status);
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as Response['writeHead'];
    next();
  };

  return {
    registry,
    middleware,
    /** Count a batch's items one by one, each as accepted or with the reason it was not stored. */
    countBatch(res: Response, items: unknown[], results: Array<{ index: number; status: 'accepted' | 'rejected' | 'unavailable' | 'rate_limited' }>) {
      batchesCounted.add(res);
      for (const result of results) {
        const raw = (items[result.index] as { type?: unknown } | null | undefined)?.type;
        const type: EventType = raw === 'track' || raw === 'identify' ? raw : 'other';
        if (result.status === 'accepted') accepted.inc({ type });
        else rejected.inc({ type, reason: result.status === 'rejected' ? 'invalid' : result.status });
      }
    },
  };
}
