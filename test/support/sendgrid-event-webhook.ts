/**
 * SendGrid's Event Webhook, played by the local SendGrid-compatible server: events about the messages it
 * accepted, formatted as SendGrid formats them, signed as SendGrid signs them (Signed Event Webhook), and
 * posted to a webhook URL.
 *
 *   const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
 *   // SENDGRID_WEBHOOK_PUBLIC_KEY = publicKeyBase64(publicKey)
 *   const webhook = sendgrid.eventWebhook({ url: `${api}/v1/webhooks/sendgrid`, privateKey });
 *   await webhook.post([{ message, event: 'delivered' }, { message, event: 'open' }]);
 *
 * Format (SendGrid's Event Webhook reference and @sendgrid/eventwebhook's tests): a JSON array, one event
 * object per message event, events separated by CRLF and the body ended by CRLF; each event has `email`,
 * `timestamp` (Unix seconds), `smtp-id`, `event`, `sg_event_id`, `sg_message_id` (the X-Message-Id the send
 * answered, then `.filter…`), `category` when the message had categories, the message's custom args as
 * top-level fields, and the fields of its kind (open: `useragent`, `ip`, `sg_machine_open`; click: `url`;
 * bounce: `type` bounce|blocked, `reason`, `status`, `bounce_classification`; …). Signature: ECDSA P-256
 * SHA-256 over the timestamp header followed by the body, base64 DER, in
 * X-Twilio-Email-Event-Webhook-Signature, the timestamp in X-Twilio-Email-Event-Webhook-Timestamp.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { EmailEventType } from '../../src/core/journey-state.js';
import type { SendgridMessage } from './sendgrid-server.js';

/** The kinds the fake posts: the journey's own names for them (a bounce of type "blocked" is 'blocked'). */
export type SendgridEventKind = EmailEventType;

export interface EventSpec {
  /** The message it is about (one the server accepted). */
  message: Pick<SendgridMessage, 'id' | 'to' | 'customArgs' | 'categories'>;
  event: SendgridEventKind;
  /** When it happened (ms); now by default. */
  at?: number;
  /** open: a privacy proxy's open (Apple Mail Privacy Protection). */
  machineOpen?: boolean;
  /** Give the event this sg_event_id (SendGrid's ids are unique per event; a repeat is SendGrid sending again). */
  eventId?: string;
}

/** One event object as SendGrid posts it. */
export type SendgridWebhookEvent = Record<string, unknown> & { event: string; sg_event_id: string; timestamp: number };

/** SendGrid's verification key format: the public key as base64 DER (SubjectPublicKeyInfo). */
export function publicKeyBase64(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** The filter suffix SendGrid puts after the X-Message-Id in `sg_message_id`. */
function sgMessageId(messageId: string): string {
  const host = createHash('sha256').update(messageId).digest('hex').slice(0, 10);
  return `${messageId}.filterdrecv-${host}-1-0-0.0`;
}

/** The event object for one spec, field for field as SendGrid's reference shows it. */
export function sendgridEvent(spec: EventSpec): SendgridWebhookEvent {
  const { message } = spec;
  const timestamp = Math.floor((spec.at ?? Date.now()) / 1000);
  const base: SendgridWebhookEvent = {
    email: message.to,
    timestamp,
    'smtp-id': `<${message.id}@ismtpd0001p1local1.sendgrid.net>`,
    event: spec.event === 'blocked' ? 'bounce' : spec.event,
    ...(message.categories.length === 1 ? { category: message.categories[0] } : message.categories.length > 1 ? { category: [...message.categories] } : {}),
    sg_event_id: spec.eventId ?? randomBytes(24).toString('base64url'),
    sg_message_id: sgMessageId(message.id),
  };
  const byKind: Record<SendgridEventKind, Record<string, unknown>> = {
    processed: {},
    deferred: { ip: '168.1.1.1', response: '400 try again later', attempt: '1' },
    delivered: { ip: '168.1.1.1', response: '250 OK', tls: 1 },
    bounce: { ip: '168.1.1.1', reason: '550 5.1.1 The email account that you tried to reach does not exist.', status: '5.1.1', type: 'bounce', bounce_classification: 'Invalid Address', tls: 1 },
    blocked: { ip: '168.1.1.1', reason: '421 4.7.0 Try again later, closing connection.', status: '4.7.0', type: 'blocked', bounce_classification: 'Reputation', tls: 1 },
    dropped: { reason: 'Bounced Address', status: '5.0.0' },
    spamreport: {},
    unsubscribe: {},
    group_unsubscribe: { asm_group_id: 1, useragent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)', ip: '203.0.113.7', url: 'https://sendgrid.local/asm/unsubscribe' },
    open: { useragent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', ip: '203.0.113.7', sg_machine_open: spec.machineOpen ?? false },
    click: { useragent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', ip: '203.0.113.7', url: 'https://coachinglive.example/start', url_offset: { index: 0, type: 'html' } },
  };
  // Custom args last, as top-level fields (SendGrid's own fields win a clash, so ours never use their names).
  return { ...base, ...byKind[spec.event], ...Object.fromEntries(Object.entries(message.customArgs).filter(([k]) => !(k in base))) };
}

/** The body as SendGrid writes it: `[{…},\r\n{…}]\r\n`. */
export function eventWebhookPayload(events: readonly SendgridWebhookEvent[]): string {
  return `[${events.map((e) => JSON.stringify(e)).join(',\r\n')}]\r\n`;
}

/** SendGrid's signature: ECDSA (P-256, SHA-256) over timestamp + payload, base64 DER. */
export function signEventWebhook(privateKey: KeyObject, payload: string | Buffer, timestamp: string): string {
  return sign('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8')]), privateKey).toString('base64');
}

export interface PostOptions {
  /** The signature timestamp (Unix seconds as text); now by default. */
  timestamp?: string;
  /** Post without the signature headers. */
  unsigned?: boolean;
  /** Change the body after signing it (an attacker's edit). */
  tamper?: (payload: string) => string;
  /** Sign with this key instead (not the one the API trusts). */
  signWith?: KeyObject;
}

export interface PostResult {
  status: number;
  headers: Headers;
  /** The parsed JSON answer (undefined when empty). */
  body: unknown;
  /** What was posted. */
  events: SendgridWebhookEvent[];
  payload: string;
}

export interface EventWebhookEmitter {
  /** The event objects for these specs (fresh sg_event_ids unless given). */
  events(specs: readonly EventSpec[]): SendgridWebhookEvent[];
  /** Post specs, or event objects made earlier (to post the very same batch again), signed. */
  post(batch: readonly EventSpec[] | readonly SendgridWebhookEvent[], opts?: PostOptions): Promise<PostResult>;
}

export function eventWebhookEmitter(options: { url: string; privateKey: KeyObject }): EventWebhookEmitter {
  const events = (specs: readonly EventSpec[]) => specs.map(sendgridEvent);
  return {
    events,
    async post(batch, opts = {}) {
      const list = batch.map((b) => ('message' in b ? sendgridEvent(b as EventSpec) : (b as SendgridWebhookEvent)));
      const payload = eventWebhookPayload(list);
      const timestamp = opts.timestamp ?? String(Math.floor(Date.now() / 1000));
      const signature = signEventWebhook(opts.signWith ?? options.privateKey, payload, timestamp);
      const sent = opts.tamper ? opts.tamper(payload) : payload;
      const res = await fetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'SendGrid Event API',
          ...(opts.unsigned ? {} : { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': timestamp }),
        },
        body: sent,
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined, events: list, payload: sent };
    },
  };
}
