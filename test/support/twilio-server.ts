/**
 * A local, Twilio-compatible HTTP server for tests: the part of Twilio's Programmable Messaging API the
 * official `twilio` SDK uses to send and list text messages, and Twilio's signed callbacks back to us.
 *
 * Point the real SDK at it with TWILIO_API_BASE = server.url (src/delivery/twilio-client.ts rewrites
 * https://api.twilio.com to it).
 *
 * API surface (faithful to Twilio's 2010-04-01 API for the parts the SDK uses):
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   form-encoded To, From | MessagingServiceSid, Body,
 *        StatusCallback; HTTP Basic auth (Account SID and auth token). 201 with the Message resource |
 *        400 {code: 21211 invalid To, 21602 no Body, 21603/21604 no sender, 21610 the number replied STOP} |
 *        401 {code: 20003} | 404 {code: 20404} another account.
 *   GET  /2010-04-01/Accounts/{AccountSid}/Messages.json   To, From, PageSize: the account's messages,
 *        newest first, in Twilio's page format (one page).
 *
 * Callbacks (outbound, as Twilio makes them): `status(sid, status, errorCode?)` posts a signed status
 * callback to the message's StatusCallback; `inbound(url, params)` posts a signed incoming message. The
 * signature is computed here from Twilio's documented algorithm (HMAC-SHA1 keyed with the auth token over
 * the URL followed by each parameter's name and value in name order, base64), not with the SDK, so our
 * verification is checked against an independent signer.
 *
 * Faults (queued, one per request to Messages.json POST, in order): 429 with Retry-After, 500/503, a
 * 400 with a Twilio error code, and 'drop-after-create' (the message is created, then the connection is
 * cut before the answer: the sender cannot know it went).
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type TwilioFault =
  | { status: 429; retryAfterSeconds?: number }
  | { status: 500 | 503 }
  | { status: 400; code: number; message?: string }
  | { status: 'drop-after-create' };

export interface TwilioMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  status: string;
  statusCallback: string | undefined;
  dateCreated: Date;
}

export interface TwilioServer {
  url: string;
  accountSid: string;
  authToken: string;
  /** Messages created, oldest first. */
  messages: TwilioMessage[];
  /** POSTs to Messages.json received (faults included). */
  readonly sendRequests: number;
  /** GETs of Messages.json received. */
  readonly listRequests: number;
  fault(...faults: TwilioFault[]): void;
  /** Numbers that replied STOP: a send to them is refused with 21610, as Twilio's opt-out handling does. */
  optedOut: Set<string>;
  /** Post a signed status callback for a message to its StatusCallback; resolves to our API's answer. */
  status(sid: string, status: string, errorCode?: number, opts?: { signature?: string }): Promise<{ status: number; body: string }>;
  /** Post a signed incoming message to `url`; resolves to our API's answer (TwiML). */
  inbound(url: string, params: Record<string, string>, opts?: { signature?: string }): Promise<{ status: number; body: string }>;
  reset(): void;
  close(): Promise<void>;
}

/** Twilio's request signature (https://www.twilio.com/docs/usage/security#validating-requests). */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');
const sid = (prefix: string) => prefix + randomBytes(16).toString('hex');
const E164 = /^\+[1-9]\d{6,14}$/;

export async function startTwilioServer(opts: { accountSid?: string; authToken?: string } = {}): Promise<TwilioServer> {
  const accountSid = opts.accountSid ?? `AC${'0123456789abcdef'.repeat(2)}`;
  const authToken = opts.authToken ?? 'local-twilio-auth-token-0123456789';
  const messages: TwilioMessage[] = [];
  const faults: TwilioFault[] = [];
  const optedOut = new Set<string>();
  let sendRequests = 0;
  let listRequests = 0;
  const basePath = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

  const resource = (m: TwilioMessage) => ({
    account_sid: accountSid,
    api_version: '2010-04-01',
    body: m.body,
    date_created: rfc2822(m.dateCreated),
    date_sent: m.status === 'queued' ? null : rfc2822(m.dateCreated),
    date_updated: rfc2822(m.dateCreated),
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: '0',
    num_segments: String(Math.max(1, Math.ceil(m.body.length / 160))),
    price: null,
    price_unit: 'USD',
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${m.sid}/Media.json` },
    to: m.to,
    uri: `/2010-04-01/Accounts/${accountSid}/Messages/${m.sid}.json`,
  });
  const error = (res: http.ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://local');
      const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
      if (!url.pathname.startsWith('/2010-04-01/Accounts/')) return error(res, 404, 20404, 'The requested resource was not found');
      if (req.headers.authorization !== expected) return error(res, 401, 20003, 'Authenticate');
      if (url.pathname !== basePath) return error(res, 404, 20404, `The requested resource ${url.pathname} was not found`);
      if (req.method === 'GET') {
        listRequests++;
        const to = url.searchParams.get('To');
        const from = url.searchParams.get('From');
        const size = Math.min(1000, Number(url.searchParams.get('PageSize') ?? 50) || 50);
        const found = [...messages].reverse().filter((m) => (!to || m.to === to) && (!from || m.from === from)).slice(0, size);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            messages: found.map(resource),
            end: Math.max(0, found.length - 1),
            first_page_uri: `${basePath}?PageSize=${size}&Page=0`,
            next_page_uri: null,
            page: 0,
            page_size: size,
            previous_page_uri: null,
            start: 0,
            uri: `${url.pathname}${url.search}`,
          }),
        );
      }
      if (req.method !== 'POST') return error(res, 405, 20004, 'Method not allowed');
      sendRequests++;
      const fault = faults.shift();
      if (fault?.status === 429) return error(res, 429, 20429, 'Too Many Requests', fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {});
      if (fault?.status === 500 || fault?.status === 503) return error(res, fault.status, 20500, 'Internal Server Error');
      if (fault?.status === 400) return error(res, 400, fault.code, fault.message ?? `error ${fault.code}`);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const to = form.get('To') ?? '';
      if (!E164.test(to)) return error(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
      const from = form.get('From');
      const service = form.get('MessagingServiceSid');
      if (!from && !service) return error(res, 400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
      const body = form.get('Body') ?? '';
      if (!body) return error(res, 400, 21602, 'Message body is required.');
      if (optedOut.has(to)) return error(res, 400, 21610, 'Attempt to send to unsubscribed recipient');
      const message: TwilioMessage = {
        sid: sid('SM'),
        to,
        from: from ?? null,
        messagingServiceSid: service ?? null,
        body,
        status: 'queued',
        statusCallback: form.get('StatusCallback') ?? undefined,
        dateCreated: new Date(),
      };
      messages.push(message);
      if (fault?.status === 'drop-after-create') return req.socket.destroy();
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(resource(message)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const post = async (url: string, params: Record<string, string>, signature?: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature ?? twilioSignature(authToken, url, params) },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, body: await res.text() };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    messages,
    get sendRequests() {
      return sendRequests;
    },
    get listRequests() {
      return listRequests;
    },
    optedOut,
    fault: (...f) => void faults.push(...f),
    async status(messageSid, status, errorCode, o) {
      const message = messages.find((m) => m.sid === messageSid);
      if (!message?.statusCallback) throw new Error(`no message ${messageSid} with a StatusCallback`);
      message.status = status;
      const params: Record<string, string> = {
        AccountSid: accountSid,
        ApiVersion: '2010-04-01',
        From: message.from ?? '',
        MessageSid: message.sid,
        MessageStatus: status,
        SmsSid: message.sid,
        SmsStatus: status,
        To: message.to,
        ...(errorCode !== undefined ? { ErrorCode: String(errorCode) } : {}),
      };
      return post(message.statusCallback, params, o?.signature);
    },
    async inbound(url, params, o) {
      return post(url, { AccountSid: accountSid, ApiVersion: '2010-04-01', MessageSid: sid('SM'), NumMedia: '0', NumSegments: '1', ...params }, o?.signature);
    },
    reset() {
      messages.length = 0;
      faults.length = 0;
      optedOut.clear();
      sendRequests = 0;
      listRequests = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
