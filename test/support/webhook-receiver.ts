/**
 * A local webhook receiver for tests: what a push, SMS or in-app provider in front of our webhook channel
 * does. It verifies X-Lifecycle-Signature over the raw body with the endpoint's secret (401 when it does
 * not match), keeps one message per Idempotency-Key (a repeat is answered 200 with the first message's id
 * and counted, not kept twice), and answers with faults queued by the test.
 *
 *   POST /hook    200 `{ "id": "msg-N" }` | 401 bad signature | 400 bad body | a queued fault
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookMessage } from '../../src/delivery/webhook-channel.js';
import { verifyWebhookSignature } from '../../src/delivery/webhook-signature.js';

export type ReceiverFault =
  /** Rate limited; `retryAfter` is sent as the Retry-After header as written (seconds or an HTTP date). */
  | { status: 429; retryAfter?: string }
  | { status: 500 | 502 | 503; retryAfter?: string }
  /** The provider refuses this message for good (unknown device, invalid payload). */
  | { status: 400 | 404 | 410 | 422; message?: string };

export interface ReceivedMessage {
  /** The id answered to the sender. */
  id: string;
  idempotencyKey: string;
  message: WebhookMessage;
  /** The signature's timestamp (unix seconds). */
  signedAt: number;
}

export interface WebhookReceiver {
  /** The endpoint URL to configure (`http://127.0.0.1:<port>/hook`). */
  readonly url: string;
  /** Messages kept: one per Idempotency-Key, in arrival order. */
  readonly messages: readonly ReceivedMessage[];
  /** Every POST, whatever the answer. */
  readonly requests: number;
  /** Requests refused because the signature did not verify. */
  readonly badSignatures: number;
  /** Requests with a key already kept: answered 200 again, not kept twice. */
  readonly duplicates: number;
  /** How many requests carried this Idempotency-Key (kept, duplicates and faulted). */
  requestsFor(key: string): number;
  /** Each incoming signed request consumes one fault, in order, before it is kept. */
  injectFaults(faults: ReceiverFault[]): void;
  /** Resolves with the messages kept once there are at least `n` (rejects after `timeoutMs`). */
  waitForMessages(n: number, timeoutMs?: number): Promise<readonly ReceivedMessage[]>;
  /** How the receiver names its message id: a JSON `id` (default), an X-Message-Id header, or neither. */
  answerIdAs(style: 'json' | 'header' | 'none'): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(opts: { secret: string; toleranceSeconds?: number }): Promise<WebhookReceiver> {
  let messages: ReceivedMessage[] = [];
  let faults: ReceiverFault[] = [];
  let perKey = new Map<string, number>();
  let requests = 0;
  let badSignatures = 0;
  let duplicates = 0;
  let idStyle: 'json' | 'header' | 'none' = 'json';
  let nextId = 0;
  let waiters: Array<() => void> = [];

  const answer = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'Content-Type': 'application/json' } : {}), ...headers });
    res.end(text);
  };
  const accepted = (res: http.ServerResponse, id: string) => {
    if (idStyle === 'json') answer(res, 200, { id });
    else if (idStyle === 'header') answer(res, 202, undefined, { 'X-Message-Id': id });
    else answer(res, 204, undefined);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/hook') return answer(res, 404, { error: 'not found' });
      requests += 1;
      const raw = Buffer.concat(chunks).toString('utf8');
      const key = String(req.headers['idempotency-key'] ?? '');
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      const check = verifyWebhookSignature(req.headers['x-lifecycle-signature'] as string | undefined, raw, opts.secret, {
        ...(opts.toleranceSeconds !== undefined ? { toleranceSeconds: opts.toleranceSeconds } : {}),
      });
      if (!check.ok) {
        badSignatures += 1;
        return answer(res, 401, { error: check.reason });
      }
      if (req.headers['content-type'] !== 'application/json') return answer(res, 400, { error: 'Content-Type must be application/json' });
      let message: WebhookMessage;
      try {
        message = JSON.parse(raw) as WebhookMessage;
      } catch {
        return answer(res, 400, { error: 'body is not JSON' });
      }
      if (!key || message.deliveryKey !== key) return answer(res, 400, { error: 'Idempotency-Key must equal deliveryKey' });
      const fault = faults.shift();
      if (fault) {
        const headers: Record<string, string> = 'retryAfter' in fault && fault.retryAfter ? { 'Retry-After': fault.retryAfter } : {};
        return answer(res, fault.status, { error: 'message' in fault && fault.message ? fault.message : `injected ${fault.status}` }, headers);
      }
      const kept = messages.find((m) => m.idempotencyKey === key);
      if (kept) {
        duplicates += 1;
        return accepted(res, kept.id);
      }
      const id = `msg-${++nextId}`;
      messages.push({ id, idempotencyKey: key, message, signedAt: check.timestamp });
      accepted(res, id);
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    get messages() {
      return messages;
    },
    get requests() {
      return requests;
    },
    get badSignatures() {
      return badSignatures;
    },
    get duplicates() {
      return duplicates;
    },
    requestsFor: (key) => perKey.get(key) ?? 0,
    waitForMessages(n, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          reject(new Error(`webhook receiver: ${messages.length} of ${n} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (messages.length < n) return;
          clearTimeout(timer);
          waiters = waiters.filter((w) => w !== check);
          resolve(messages);
        };
        waiters.push(check);
        check();
      });
    },
    injectFaults(more) {
      faults.push(...more);
    },
    answerIdAs(style) {
      idStyle = style;
    },
    reset() {
      messages = [];
      faults = [];
      perKey = new Map();
      requests = badSignatures = duplicates = nextId = 0;
      idStyle = 'json';
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
