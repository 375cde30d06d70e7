import type { Agent } from 'node:https';
import webPush from 'web-push';
import { retryAfterMs } from './webhook-channel.js';

/** The application server's VAPID identity (RFC 8292): VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** A `mailto:` or `https:` contact the push service can reach the sender at. */
  subject: string;
}

/** One subscription as the sender needs it. */
export interface PushTarget {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** What one push service's answer to one message means. */
export type PushAttempt =
  | { kind: 'sent'; status: number; location?: string }
  /** 404 or 410: the subscription has expired or the customer unsubscribed; it never works again. */
  | { kind: 'gone'; status: number }
  | { kind: 'retry'; reason: string; status?: number; afterMs?: number; reached: 'not-sent' | 'unknown' }
  | { kind: 'failed'; reason: string; status: number };

/**
 * A push service's status, read as RFC 8030 and the services' docs use them. 201 (any 2xx): taken. 404/410:
 * the subscription is gone. 408, 429 and 5xx: try again (after Retry-After when given). 400 (a bad request),
 * 401/403 (the VAPID key does not match the one the browser subscribed with, or the JWT is refused), 413 (too
 * large) and any other 4xx: this message fails at this subscription; retrying would not change the answer.
 */
export function pushAnswerKind(status: number): PushAttempt['kind'] {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 404 || status === 410) return 'gone';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'failed';
}

/** Connection errors that happen before a request is written: the push service has nothing. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);
const MAX_ERROR_TEXT = 200;

export interface WebPushSender {
  readonly publicKey: string;
  send(target: PushTarget, payload: string, opts: { topic: string; ttlSeconds: number; urgency?: 'very-low' | 'low' | 'normal' | 'high' }): Promise<PushAttempt>;
}

/**
 * Web push with the `web-push` library: a VAPID-signed, aes128gcm-encrypted (RFC 8291) POST to the
 * subscription's endpoint, bounded in time. `agent` is for tests whose push service has its own CA.
 */
export function createWebPushSender(opts: { vapid: VapidKeys; timeoutMs?: number; agent?: Agent; now?: () => number }): WebPushSender {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    publicKey: opts.vapid.publicKey,
    async send(target, payload, { topic, ttlSeconds, urgency }) {
      const origin = originOf(target.endpoint);
      try {
        const result = await webPush.sendNotification({ endpoint: target.endpoint, keys: target.keys }, payload, {
          vapidDetails: opts.vapid,
          TTL: ttlSeconds,
          topic,
          ...(urgency ? { urgency } : {}),
          contentEncoding: 'aes128gcm',
          timeout: timeoutMs,
          ...(opts.agent ? { agent: opts.agent } : {}),
        });
        const location = result.headers.location;
        return { kind: 'sent', status: result.statusCode, ...(typeof location === 'string' ? { location } : {}) };
      } catch (err) {
        if (err instanceof webPush.WebPushError) {
          const detail = String(err.body ?? '').trim().replace(/\s+/g, ' ').slice(0, MAX_ERROR_TEXT);
          const reason = `push service ${origin} answered ${err.statusCode}${detail ? `: ${detail}` : ''}`;
          const kind = pushAnswerKind(err.statusCode);
          const retryAfter = err.headers['retry-after'];
          if (kind === 'gone') return { kind, status: err.statusCode };
          if (kind === 'retry') {
            const afterMs = retryAfterMs(typeof retryAfter === 'string' ? retryAfter : undefined, now());
            return { kind, reason, status: err.statusCode, reached: 'not-sent', ...(afterMs !== undefined ? { afterMs } : {}) };
          }
          return { kind: 'failed', reason, status: err.statusCode };
        }
        const code = (err as { code?: string }).code;
        if (code || (err as Error).message === 'Socket timeout' || (err as Error).message === 'socket hang up') {
          const what = (err as Error).message === 'Socket timeout' ? `no answer within ${timeoutMs} ms` : (code ?? (err as Error).message);
          return { kind: 'retry', reason: `push service ${origin} unreachable: ${what}`, reached: code && NOT_SENT_CODES.has(code) ? 'not-sent' : 'unknown' };
        }
        // Not the push service's answer (a key web-push refuses, a bug): thrown on, retried as it is.
        throw err;
      }
    },
  };
}

function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return 'with a malformed endpoint';
  }
}
