/**
 * A local web push service for tests: what FCM, Mozilla's autopush or Apple's push service do for our
 * push channel, over HTTPS with a certificate made at start (openssl). It plays the browser's part too:
 * `subscribe()` makes a subscription the way a browser does (a P-256 key pair and an auth secret), so it
 * can decrypt what it receives.
 *
 * For each POST it checks the VAPID Authorization (RFC 8292: an ES256 JWT for this origin, signed with the
 * key in `k`, not expired, with a contact; and, when the subscription was made with an
 * applicationServerKey, that key), the TTL and Content-Encoding headers, and decrypts the aes128gcm body
 * (RFC 8291) with the subscription's private key. A message is answered 201 with a Location and queued for
 * the device; a message whose Topic is already queued replaces it (RFC 8030 section 5.4), as for a device
 * that is offline. Faults a test queues come first: a status (429 with Retry-After, 500, 400, 413, ...),
 * or a cut connection before or after the message was taken. An unsubscribed subscription answers 410,
 * an unknown one 404.
 */
import { createECDH, createPublicKey, randomBytes, randomUUID, verify, type ECDH } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ece from 'http_ece';

export type PushFault =
  | { status: 429 | 500 | 502 | 503; retryAfter?: string }
  | { status: 400 | 401 | 403 | 413; message?: string }
  /** The connection is cut: before the message was taken (it has nothing) or after (it has it, the answer is lost). */
  | { cut: 'before' | 'after' };

/** The browser's side of a subscription: what `pushManager.subscribe()` gives the app, with the private key. */
export interface BrowserSubscription {
  id: string;
  /** PushSubscription.toJSON(): what the app posts to our API. */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  ecdh: ECDH;
  /** The application server key the subscription was made for (VAPID_PUBLIC_KEY), when the test gives one. */
  applicationServerKey?: string;
}

export interface ReceivedPush {
  subscriptionId: string;
  /** The decrypted payload as text, and parsed when it is JSON. */
  text: string;
  json: unknown;
  topic?: string;
  urgency?: string;
  ttl: number;
  /** The VAPID JWT's claims. */
  vapid: { aud: string; exp: number; sub: string };
  location: string;
}

export interface PushService {
  /** The service's origin (`https://127.0.0.1:<port>`): WEB_PUSH_SERVICES. */
  readonly origin: string;
  /** The certificate (PEM) and its file: an https.Agent's `ca`, or NODE_EXTRA_CA_CERTS for a worker process. */
  readonly ca: string;
  readonly caFile: string;
  readonly agent: https.Agent;
  subscribe(opts?: { applicationServerKey?: string }): BrowserSubscription;
  /** The browser unsubscribed: the endpoint answers 410 from now on. */
  unsubscribe(id: string): void;
  /** The subscription expired at the service: 404 from now on. */
  expire(id: string): void;
  /** The next requests to this subscription (or to any, '*') consume these faults in order. */
  injectFaults(id: string | '*', faults: PushFault[]): void;
  /** Every message taken (answered 201, or taken before a cut), in order. */
  readonly received: readonly ReceivedPush[];
  /** What waits on the device: taken messages, one per Topic (a later one replaced an earlier). */
  queued(id: string): ReceivedPush[];
  /** Every POST per subscription, whatever the answer. */
  requestsFor(id: string): number;
  /** Requests refused for a bad VAPID signature, a missing header or a body that does not decrypt, with why. */
  readonly refused: readonly string[];
  waitForReceived(n: number, timeoutMs?: number): Promise<readonly ReceivedPush[]>;
  reset(): void;
  close(): Promise<void>;
}

const b64u = (b: Buffer) => b.toString('base64url');

/** A self-signed certificate for 127.0.0.1 and localhost, valid for a day. */
function selfSignedCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

/** The VAPID Authorization header's claims when it verifies, else why not. */
function checkVapid(header: string | undefined, origin: string, expectedKey: string | undefined): { claims: ReceivedPush['vapid'] } | { problem: string } {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) return { problem: 'no vapid Authorization' };
  const [, jwt, k] = match as unknown as [string, string, string];
  const parts = jwt.split('.');
  if (parts.length !== 3) return { problem: 'the JWT is not three parts' };
  const [head, body, signature] = parts as [string, string, string];
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 4) return { problem: 'k is not an uncompressed P-256 point' };
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) }, format: 'jwk' });
  const alg = (JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string }).alg;
  if (alg !== 'ES256') return { problem: `JWT alg ${alg}` };
  if (!verify('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))) return { problem: 'the JWT signature does not verify with k' };
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { aud?: string; exp?: number; sub?: string };
  const now = Date.now() / 1_000;
  if (claims.aud !== origin) return { problem: `aud ${claims.aud} is not ${origin}` };
  if (typeof claims.exp !== 'number' || claims.exp < now || claims.exp > now + 24 * 3_600) return { problem: 'exp is past or more than 24 hours ahead' };
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return { problem: 'sub is not a mailto: or https: contact' };
  if (expectedKey && k !== expectedKey) return { problem: 'k is not the applicationServerKey the subscription was made with' };
  return { claims: { aud: claims.aud, exp: claims.exp, sub: claims.sub } };
}

export async function startPushService(): Promise<PushService> {
  const dir = mkdtempSync(join(tmpdir(), 'push-service-'));
  const tls = selfSignedCertificate(dir);
  const subscriptions = new Map<string, BrowserSubscription & { state: 'active' | 'unsubscribed' | 'expired' }>();
  let faults = new Map<string, PushFault[]>();
  let received: ReceivedPush[] = [];
  let refused: string[] = [];
  let requests = new Map<string, number>();

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, body = '', headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
        res.end(body);
      };
      const id = /^\/push\/([\w-]+)$/.exec(req.url ?? '')?.[1];
      if (req.method !== 'POST' || !id) return answer(404, 'not found');
      requests.set(id, (requests.get(id) ?? 0) + 1);
      const subscription = subscriptions.get(id);
      if (!subscription || subscription.state === 'expired') return answer(404, 'no such subscription');
      if (subscription.state === 'unsubscribed') return answer(410, 'subscription has unsubscribed or expired');
      const queue = faults.get(id)?.length ? faults.get(id)! : (faults.get('*') ?? []);
      const fault = queue.shift();
      if (fault && 'cut' in fault && fault.cut === 'before') return req.socket.destroy();
      if (fault && 'status' in fault) {
        return answer(fault.status, 'message' in fault && fault.message ? fault.message : `injected ${fault.status}`, 'retryAfter' in fault && fault.retryAfter ? { 'Retry-After': fault.retryAfter } : {});
      }

      const refuse = (status: number, why: string) => {
        refused.push(why);
        answer(status, why);
      };
      const vapid = checkVapid(req.headers.authorization, origin(), subscription.applicationServerKey);
      if ('problem' in vapid) return refuse(vapid.problem.startsWith('k is not') ? 403 : 401, vapid.problem);
      const ttl = Number(req.headers.ttl);
      if (!Number.isInteger(ttl) || ttl < 0) return refuse(400, 'TTL header missing');
      if (req.headers['content-encoding'] !== 'aes128gcm') return refuse(415, `Content-Encoding ${req.headers['content-encoding']}`);
      let text: string;
      try {
        text = ece.decrypt(Buffer.concat(chunks), { version: 'aes128gcm', privateKey: subscription.ecdh, authSecret: Buffer.from(subscription.json.keys.auth, 'base64url') }).toString('utf8');
      } catch (err) {
        return refuse(400, `the body does not decrypt: ${(err as Error).message}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const location = `${origin()}/message/${randomUUID()}`;
      const topic = req.headers.topic as string | undefined;
      const urgency = req.headers.urgency as string | undefined;
      received.push({ subscriptionId: id, text, json, ttl, vapid: vapid.claims, location, ...(topic ? { topic } : {}), ...(urgency ? { urgency } : {}) });
      if (fault && 'cut' in fault) return req.socket.destroy();
      answer(201, '', { Location: location });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = () => `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new https.Agent({ ca: tls.cert, keepAlive: false });

  return {
    get origin() {
      return origin();
    },
    ca: tls.cert,
    caFile: tls.certFile,
    agent,
    subscribe(opts = {}) {
      const id = randomUUID().replace(/-/g, '');
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const subscription: BrowserSubscription = {
        id,
        json: { endpoint: `${origin()}/push/${id}`, expirationTime: null, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(randomBytes(16)) } },
        ecdh,
        ...(opts.applicationServerKey ? { applicationServerKey: opts.applicationServerKey } : {}),
      };
      subscriptions.set(id, { ...subscription, state: 'active' });
      return subscription;
    },
    unsubscribe(id) {
      const s = subscriptions.get(id);
      if (s) s.state = 'unsubscribed';
    },
    expire(id) {
      const s = subscriptions.get(id);
      if (s) s.state = 'expired';
    },
    injectFaults(id, list) {
      faults.set(id, [...(faults.get(id) ?? []), ...list]);
    },
    get received() {
      return received;
    },
    queued(id) {
      const byTopic = new Map<string, ReceivedPush>();
      received.filter((r) => r.subscriptionId === id).forEach((r, i) => byTopic.set(r.topic ?? `#${i}`, r));
      return [...byTopic.values()];
    },
    requestsFor: (id) => requests.get(id) ?? 0,
    get refused() {
      return refused;
    },
    async waitForReceived(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`the push service received ${received.length} of ${n} messages within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return received;
    },
    reset() {
      faults = new Map();
      received = [];
      refused = [];
      requests = new Map();
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
