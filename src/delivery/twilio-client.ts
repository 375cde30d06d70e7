import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { retryAfterMs } from './webhook-channel.js';

/** Where the real SDK sends its requests unless TWILIO_API_BASE points it elsewhere (a local Twilio-compatible server). */
const TWILIO_API = 'https://api.twilio.com';

/** One text message to send. `statusCallback` is where Twilio posts its delivery receipts. */
export interface OutgoingSms {
  to: string;
  body: string;
  statusCallback?: string;
}

/** A message Twilio holds, as a lookup after a cut-off attempt reads it. */
export interface SmsAtProvider {
  sid: string;
  body: string;
  status: string;
  dateCreated: Date;
}

/**
 * Why Twilio did not take a message. 'rejected': the message itself is refused (an invalid or unreachable
 * number, a 4xx): retrying cannot help. 'opted-out': the number replied STOP (Twilio error 21610).
 * 'retry': try again, after `retryAfterMs` when Twilio said. `outcome` as for email: 'not-sent' when
 * Twilio answered or was never reached, 'unknown' when it may have created the message (a dropped
 * connection, a timeout, a 5xx after the request arrived).
 */
export class SmsError extends Error {
  constructor(
    message: string,
    readonly kind: 'rejected' | 'opted-out' | 'retry',
    readonly status?: number,
    readonly code?: number,
    readonly retryAfterMs?: number,
    readonly outcome: 'not-sent' | 'unknown' = 'not-sent',
  ) {
    super(message);
    this.name = 'SmsError';
  }
}

/**
 * Twilio error codes that say the number can never take this message
 * (https://www.twilio.com/docs/api/errors): retrying cannot help, and a fallback channel may.
 */
export const PERMANENT_TWILIO_ERRORS: ReadonlyMap<number, string> = new Map([
  [21211, 'invalid To number'],
  [21612, 'Twilio cannot route to this number'],
  [21614, 'the number is not a mobile number'],
  [21408, 'sending to this region is not enabled on the account'],
  [30005, 'unknown destination handset'],
  [30006, 'landline or unreachable carrier'],
]);
/** "Attempt to send to unsubscribed recipient": the number replied STOP to our sender. */
export const TWILIO_UNSUBSCRIBED = 21610;

export interface SmsProvider {
  readonly provider: 'twilio';
  /** Send once; throws SmsError for every answer but a created message. */
  send(sms: OutgoingSms): Promise<{ sid: string }>;
  /** Messages to `to` created at or after `since`, newest first (at most 50): what Twilio has, for a cut-off attempt. */
  sentTo(to: string, since: Date): Promise<SmsAtProvider[]>;
}

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** The sender: a number (`+15005550006`) or a Messaging Service SID (`MG…`); one of them. */
  from?: string;
  messagingServiceSid?: string;
  /** TWILIO_API_BASE: a Twilio-compatible server to send to instead of api.twilio.com (tests, a local relay). */
  apiBase?: string;
  /** How long a request may take before it counts as cut off (its outcome unknown). */
  timeoutMs?: number;
  now?: () => number;
}

/** The 429 or 5xx Twilio answered, with its Retry-After: the SDK's RestException drops the headers. */
class TwilioHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

/**
 * The SDK's own HTTP client with two changes: requests for api.twilio.com go to `apiBase` when one is set,
 * and a 429 or 5xx keeps its Retry-After. The SDK has no base URL setting; a custom `httpClient` is its
 * documented way to change how requests are made.
 */
class TwilioRequests extends twilio.RequestClient {
  constructor(
    private readonly apiBase: string | undefined,
    timeoutMs: number,
    private readonly now: () => number,
  ) {
    super({ timeout: timeoutMs, autoRetry: false });
  }

  override async request<T>(opts: RequestClient.RequestOptions<T>) {
    const uri = this.apiBase && opts.uri.startsWith(TWILIO_API) ? this.apiBase.replace(/\/+$/, '') + opts.uri.slice(TWILIO_API.length) : opts.uri;
    const response = await super.request<T>({ ...opts, uri });
    if (response.statusCode === 429 || response.statusCode >= 500) {
      const body = parsedBody(response.body);
      const header = (response.headers as Record<string, unknown> | undefined)?.['retry-after'];
      throw new TwilioHttpError(
        response.statusCode,
        typeof body?.code === 'number' ? body.code : undefined,
        typeof body?.message === 'string' ? body.message : `HTTP ${response.statusCode}`,
        retryAfterMs(typeof header === 'string' ? header : undefined, this.now()),
      );
    }
    return response;
  }
}

function parsedBody(body: unknown): { code?: unknown; message?: unknown } | undefined {
  if (typeof body === 'object' && body !== null) return body as { code?: unknown; message?: unknown };
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body) as { code?: unknown; message?: unknown };
  } catch {
    return undefined;
  }
}

/** Connection failures that mean the request never reached Twilio. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Anything the SDK threw, as an SmsError; what is not Twilio's answer or the network (a bug) is thrown on. */
export function smsErrorOf(err: unknown): SmsError {
  if (err instanceof SmsError) return err;
  if (err instanceof TwilioHttpError) {
    const what = `Twilio answered ${err.status}${err.code ? ` (error ${err.code})` : ''}: ${err.message}`;
    // A 5xx may come after Twilio created the message: the retry looks first.
    return new SmsError(what, 'retry', err.status, err.code, err.retryAfterMs, err.status === 429 ? 'not-sent' : 'unknown');
  }
  if (err instanceof twilio.RestException) {
    const what = `Twilio answered ${err.status}${err.code ? ` (error ${err.code})` : ''}: ${err.message}`;
    if (err.code === TWILIO_UNSUBSCRIBED) return new SmsError(what, 'opted-out', err.status, err.code);
    // A wrong SID or token, a suspended account: the operator's to fix; the messages go out once it is.
    if (err.status === 401 || err.status === 403) return new SmsError(what, 'retry', err.status, err.code);
    return new SmsError(what, 'rejected', err.status, err.code);
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new SmsError(`Twilio could not be reached: ${code} ${(err as Error).message}`, 'retry', undefined, undefined, undefined, NEVER_CONNECTED.has(code) ? 'not-sent' : 'unknown');
  }
  throw err;
}

/** Messages through Twilio's official SDK (`messages.create`, `messages.list`). */
export function createTwilioSender(opts: TwilioOptions): SmsProvider {
  if (!opts.from === !opts.messagingServiceSid) throw new Error('Twilio needs one sender: a From number or a Messaging Service SID');
  const now = opts.now ?? Date.now;
  const client = twilio(opts.accountSid, opts.authToken, { httpClient: new TwilioRequests(opts.apiBase, opts.timeoutMs ?? 15_000, now), autoRetry: false });
  const sender = opts.messagingServiceSid ? { messagingServiceSid: opts.messagingServiceSid } : { from: opts.from! };
  return {
    provider: 'twilio',
    async send(sms) {
      try {
        const message = await client.messages.create({ to: sms.to, body: sms.body, ...sender, ...(sms.statusCallback ? { statusCallback: sms.statusCallback } : {}) });
        return { sid: message.sid };
      } catch (err) {
        throw smsErrorOf(err);
      }
    },
    async sentTo(to, since) {
      try {
        // DateSent filters by day and a queued message has none yet: list by number and compare creation times here.
        const messages = await client.messages.list({ to, limit: 50 });
        return messages
          .filter((m) => m.dateCreated && m.dateCreated.getTime() >= since.getTime())
          .map((m) => ({ sid: m.sid, body: m.body, status: m.status, dateCreated: m.dateCreated }));
      } catch (err) {
        throw smsErrorOf(err);
      }
    },
  };
}
