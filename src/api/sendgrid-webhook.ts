import { createPublicKey, verify as ecdsaVerify } from 'node:crypto';
import eventWebhook from '@sendgrid/eventwebhook';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { HttpError } from '../http/errors.js';
import type { EmailEventSink } from './sendgrid-events.js';

export const SENDGRID_WEBHOOK_PATH = '/v1/webhooks/sendgrid';
/** The headers of SendGrid's Signed Event Webhook (lower case, as Node hands them over). */
export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';
/**
 * How far the signed timestamp may be from our clock, either way: a captured request cannot be replayed
 * later than this. SendGrid signs every attempt afresh, its retries included.
 */
export const MAX_SKEW_SECONDS = 600;
/** SendGrid posts a batch every 30 seconds or at about 768 KB; this leaves room and bounds what a caller can make us read. */
export const WEBHOOK_BODY_LIMIT = '5mb';
/** The WWW-Authenticate challenge of a refused webhook request: a SendGrid signature is wanted, not an API key. */
export const SIGNATURE_CHALLENGE = 'Signature realm="sendgrid-event-webhook"';

export type SignatureCheck = { ok: true } | { ok: false; reason: string };
export type SignatureVerifier = (body: Buffer, signature: string | undefined, timestamp: string | undefined, now?: number) => SignatureCheck;

/**
 * SendGrid's check, with its own package: ECDSA (P-256, SHA-256) over the timestamp header followed by
 * the raw body, the signature base64 DER. `publicKey` is the verification key as SendGrid shows it
 * (base64 DER). The timestamp must also be within MAX_SKEW_SECONDS of `now`.
 *
 * The package verifies in plain JavaScript (15-25 ms a request on this machine), so node:crypto checks first
 * and refuses a wrong signature about twenty times faster (1.2 ms for a 45 KB batch, mostly hashing it):
 * forged requests cannot tie up the API. A signature node:crypto
 * accepts is then checked by the package, so what passes is exactly what SendGrid's own check passes.
 */
export function sendgridSignatureVerifier(publicKey: string): SignatureVerifier {
  const webhook = new eventWebhook.EventWebhook();
  const key = webhook.convertPublicKeyToECDSA(publicKey);
  const nodeKey = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
  return (body, signature, timestamp, now = Date.now()) => {
    if (!signature || !timestamp) return { ok: false, reason: 'the request is not signed' };
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'the signature timestamp is not a time in Unix seconds' };
    if (Math.abs(now / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
      return { ok: false, reason: `the signature timestamp is more than ${MAX_SKEW_SECONDS / 60} minutes from the API’s clock` };
    }
    // A DER P-256 signature is 70-72 bytes; a longer header is not one (and is not worth the arithmetic).
    if (signature.length > 200) return { ok: false, reason: 'the signature does not match the body' };
    let valid: boolean;
    try {
      // The package signs over the body decoded as UTF-8 and encoded again: the same bytes go to both checks.
      const signed = Buffer.from(timestamp + body.toString('utf8'), 'utf8');
      valid = ecdsaVerify('sha256', signed, nodeKey, Buffer.from(signature, 'base64')) && webhook.verifySignature(key, body, signature, timestamp);
    } catch {
      valid = false; // not base64 DER
    }
    return valid ? { ok: true } : { ok: false, reason: 'the signature does not match the body' };
  };
}

export interface SendgridWebhookOptions {
  /** The verification key (SENDGRID_WEBHOOK_PUBLIC_KEY); without it the route answers 404 not_configured. */
  publicKey?: string;
  /** Where verified batches go. */
  events?: EmailEventSink;
  /** The clock the timestamp is checked against; tests pass their own. */
  now?: () => number;
}

const refused = (res: Response, reason: string) => {
  res.setHeader('WWW-Authenticate', SIGNATURE_CHALLENGE);
  return new HttpError(401, 'unauthenticated', `${reason}: POST /v1/webhooks/sendgrid takes SendGrid's Signed Event Webhook (X-Twilio-Email-Event-Webhook-Signature and -Timestamp)`);
};

/**
 * The handlers of POST /v1/webhooks/sendgrid. It authenticates by SendGrid's signature, not by an API key,
 * and counts against no rate limit: SendGrid's volume follows what we send, and a 429 would only make it
 * send the batch again. The raw body is read here (the signature covers its exact bytes), never by a JSON
 * parser first. Unsigned, badly signed or stale: 401, nothing read further, nothing stored or signalled.
 */
export function sendgridWebhookHandlers(opts: SendgridWebhookOptions): RequestHandler[] {
  const verify = opts.publicKey ? sendgridSignatureVerifier(opts.publicKey) : undefined;
  const events = opts.events;
  const now = opts.now ?? Date.now;
  const configured: RequestHandler = (_req, _res, next) => {
    if (!verify || !events) {
      return next(new HttpError(404, 'not_configured', 'the SendGrid Event Webhook is not configured on this API: set SENDGRID_WEBHOOK_PUBLIC_KEY to the verification key of SendGrid’s Signed Event Webhook'));
    }
    next();
  };
  // Before the body is read: a request without the signature headers is refused at once.
  const signed: RequestHandler = (req, res, next) => {
    if (!req.headers[SIGNATURE_HEADER] || !req.headers[TIMESTAMP_HEADER]) return next(refused(res, 'the request is not signed'));
    next();
  };
  const raw = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });
  const handle: RequestHandler = async (req: Request, res: Response) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? undefined : value;
    };
    const check = verify!(body, header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER), now());
    if (!check.ok) throw refused(res, check.reason);
    let items: unknown;
    try {
      items = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, 'malformed_json', `the body is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(items)) {
      throw new HttpError(400, 'invalid_request', 'the batch is invalid', [{ path: '', message: 'SendGrid posts a JSON array of events', code: 'invalid_type' }]);
    }
    res.status(200).json(await events!.apply(items));
  };
  return [configured, signed, raw, handle];
}
