/**
 * A local, SendGrid-compatible HTTP server for tests and local development.
 *
 * Point the real `@sendgrid/mail` client at it:
 *
 *   const client = new Client();
 *   client.setApiKey(apiKey);                         // setApiKey resets baseUrl, so it must come first
 *   client.setDefaultRequest('baseUrl', server.url);
 *   const mail = new MailService();
 *   mail.setClient(client);
 *
 * API surface (faithful to SendGrid v3 for the parts the client uses):
 *   POST /v3/mail/send   202 + X-Message-Id | 400/401/413 with `{ errors: [{ message, field, help }] }` | 429 beyond
 *                        the account's plan rate when one is set (`planRate`, a bucket of one second's sends)
 *   GET  /v3/messages    the Email Activity Feed (a paid add-on at SendGrid): `query` of conditions joined by
 *                        AND, each `unique_args['name']="value"`, `msg_id="…"` or `msg_id LIKE '<X-Message-Id>%'`
 *                        (optionally in parentheses), `limit` 1-1000 (default 10); 200 `{ messages: [...] }`,
 *                        newest first. A message shows only `activityFeed.lagMs` after its 202 (the real feed
 *                        lags by seconds to minutes); `available: false` answers 404, as for an account
 *                        without the add-on.
 *
 * Event Webhook (outbound, like SendGrid's): `eventWebhook({ url, privateKey }).post([{ message, event }])`
 * posts signed event batches about accepted messages (sendgrid-event-webhook.ts).
 *
 * Control plane (no auth, for cross-process tests):
 *   GET    /__inbox      accepted messages as JSON (header X-Requests-Count carries `requests`)
 *   DELETE /__inbox      reset()
 *   POST   /__faults     body: Fault[] — appended to the fault queue
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventWebhookEmitter, type EventWebhookEmitter } from './sendgrid-event-webhook.js';

export type Fault =
  | { status: 429; resetSeconds?: number }
  | { status: 500 | 502 | 503 }
  | { status: 400; message?: string }
  | { status: 'hang'; ms: number }
  /** Accepted at once (in the log, in the feed), but the 202 is held back `ms`: a send whose answer is lost if the sender dies meanwhile. */
  | { status: 'slow-202'; ms: number };

export interface SendgridMessage {
  /** The X-Message-Id returned to the client. */
  id: string;
  /** Date.now() when the message was accepted. */
  receivedAt: number;
  /** The parsed JSON request body, exactly as the client sent it (snake_case). */
  body: Record<string, unknown>;
  /** Mail-level `custom_args` merged with `personalizations[0].custom_args` (personalization wins). */
  customArgs: Record<string, string>;
  /** First recipient of the first personalization. */
  to: string;
  /** `personalizations[0].subject` if set, else the top-level `subject` (undefined with templates). */
  subject: string | undefined;
  categories: string[];
  /** Mail-level `headers` merged with `personalizations[0].headers` (personalization wins). */
  headers: Record<string, string>;
}

export interface SendgridError {
  message: string;
  field: string | null;
  help: string | null;
}

export interface SendgridServer {
  /** Base URL, e.g. `http://127.0.0.1:3025` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Accepted messages, in acceptance order. */
  readonly messages: readonly SendgridMessage[];
  /** Number of API requests received (accepted, rejected and faulted); excludes `/__*` control routes and the activity feed. */
  readonly requests: number;
  /** Number of Email Activity Feed requests (`GET /v3/messages`), answered or refused. */
  readonly activityRequests: number;
  /** Send requests answered 429 because they came beyond the plan rate (injected 429 faults are not counted). */
  readonly rateLimited: number;
  /** Change the plan rate from now on (sends a second; undefined: no limit). */
  setPlanRate(perSecond: number | undefined): void;
  /** Change the activity feed's lag or availability from now on (see SendgridServerOptions.activityFeed). */
  setActivityFeed(feed: ActivityFeedOptions): void;
  /** Queue faults; each incoming send request consumes one, in order, before normal handling. */
  injectFaults(faults: Fault[]): void;
  /**
   * SendGrid's Event Webhook for the messages this server accepted: signed event batches posted to `url`
   * (see sendgrid-event-webhook.ts).
   */
  eventWebhook(options: { url: string; privateKey: KeyObject }): EventWebhookEmitter;
  /** Resolves with all messages once at least `n` have been accepted. */
  waitForMessages(n: number, timeoutMs?: number): Promise<SendgridMessage[]>;
  /** Clears messages, the request counters and pending faults, and puts the activity feed back as started. */
  reset(): void;
  close(): Promise<void>;
}

export interface SendgridServerOptions {
  /** 0 (default) picks a random free port. */
  port?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The Email Activity Feed: on and without lag by default. */
  activityFeed?: ActivityFeedOptions;
  /**
   * The account's plan rate in sends a second: a send beyond it answers 429 with X-RateLimit headers, as
   * SendGrid does. A bucket holds one second's sends and refills evenly. Absent: no limit.
   */
  planRate?: number;
}

export interface ActivityFeedOptions {
  /** A message appears in the feed this long after its 202 (0 by default). */
  lagMs?: number;
  /** false: GET /v3/messages answers 404, as for an account without the Email Activity add-on. */
  available?: boolean;
}

/** One message as the Email Activity Feed lists it (`GET /v3/messages`). */
export interface ActivityFeedMessage {
  msg_id: string;
  from_email: string;
  subject: string;
  to_email: string;
  status: 'processed' | 'delivered' | 'not_delivered';
  opens_count: number;
  clicks_count: number;
  last_event_time: string;
}

/** SendGrid's documented limit for the total message size. */
export const MAX_BODY_BYTES = 30 * 1024 * 1024;
export const MAX_PERSONALIZATIONS = 1000;
const RATE_LIMIT = 600;
const EMAIL_RE = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

const err = (message: string, field: string | null = null): SendgridError => ({ message, field, help: null });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim().length > 0;
}

function isValidEmail(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 320 && EMAIL_RE.test(v.trim());
}

/** Validates a fault received over HTTP; returns an error string or null. */
function checkFault(f: unknown): string | null {
  if (!isRecord(f)) return 'fault must be an object';
  switch (f.status) {
    case 429:
      return f.resetSeconds === undefined || (typeof f.resetSeconds === 'number' && f.resetSeconds >= 0)
        ? null
        : 'resetSeconds must be a non-negative number';
    case 500:
    case 502:
    case 503:
      return null;
    case 400:
      return f.message === undefined || typeof f.message === 'string' ? null : 'message must be a string';
    case 'hang':
    case 'slow-202':
      return typeof f.ms === 'number' && f.ms >= 0 ? null : `${f.status} fault needs ms >= 0`;
    default:
      return `unsupported fault status ${JSON.stringify(f.status)}`;
  }
}

function checkAddressList(list: unknown, field: string, errors: SendgridError[], seen: Set<string>): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) {
    errors.push(err(`The ${field.split('.').pop()} field must be an array of email objects.`, field));
    return;
  }
  list.forEach((addr, j) => {
    const email = isRecord(addr) ? addr.email : undefined;
    if (!isValidEmail(email)) {
      errors.push(err('Does not contain a valid address.', `${field}.${j}.email`));
      return;
    }
    const key = (email as string).trim().toLowerCase();
    if (seen.has(key)) {
      errors.push(
        err(
          `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${key}] in the ${field} field.`,
          `${field}.${j}.email`,
        ),
      );
    }
    seen.add(key);
  });
}

function checkCustomArgs(v: unknown, field: string, errors: SendgridError[]): void {
  if (v === undefined) return;
  if (!isRecord(v)) {
    errors.push(err('Invalid type. Expected: object, given: ' + typeof v + '.', field));
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') {
      errors.push(err(`Invalid type. Expected: string, given: ${val === null ? 'null' : typeof val}.`, `${field}.${k}`));
    }
  }
}

/** Headers SendGrid sets itself and refuses in `headers` (its Mail Send reference lists them). */
const RESERVED_HEADERS = new Set(['x-sg-id', 'x-sg-eid', 'received', 'dkim-signature', 'content-type', 'content-transfer-encoding', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc']);

/** `headers` (mail level or per personalization): string values as custom_args, one line each, no reserved names. */
function checkHeaders(v: unknown, field: string, errors: SendgridError[]): void {
  checkCustomArgs(v, field, errors);
  if (!isRecord(v)) return;
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string' && /[\r\n]/.test(val)) errors.push(err('Header values may not contain line breaks.', `${field}.${k}`));
    if (RESERVED_HEADERS.has(k.toLowerCase())) errors.push(err(`The header ${k} is reserved and cannot be set.`, `${field}.${k}`));
  }
}

/** Essential SendGrid v3 mail/send validation. Returns every problem found (empty = valid). */
export function validateMailSend(body: unknown): SendgridError[] {
  if (!isRecord(body)) return [err('Bad Request')];
  const errors: SendgridError[] = [];
  const hasTemplate = isNonEmptyString(body.template_id);

  // from
  if (!isRecord(body.from) || body.from.email === undefined || body.from.email === '') {
    errors.push(
      err(
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
        'from.email',
      ),
    );
  } else if (!isValidEmail(body.from.email)) {
    errors.push(err('The from email does not contain a valid address.', 'from.email'));
  }
  if (body.reply_to !== undefined && !(isRecord(body.reply_to) && isValidEmail(body.reply_to.email))) {
    errors.push(err('The reply_to email does not contain a valid address.', 'reply_to.email'));
  }

  // personalizations
  const ps = body.personalizations;
  let everyPersonalizationHasSubject = false;
  if (!Array.isArray(ps) || ps.length === 0) {
    errors.push(err('The personalizations field is required and must have at least one personalization.', 'personalizations'));
  } else if (ps.length > MAX_PERSONALIZATIONS) {
    errors.push(
      err(`The personalizations field cannot have more than ${MAX_PERSONALIZATIONS} items.`, 'personalizations'),
    );
  } else {
    everyPersonalizationHasSubject = true;
    ps.forEach((p, i) => {
      const base = `personalizations.${i}`;
      if (!isRecord(p)) {
        errors.push(err('Each personalization must be an object.', base));
        everyPersonalizationHasSubject = false;
        return;
      }
      if (!Array.isArray(p.to) || p.to.length === 0) {
        errors.push(
          err(
            'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
            `${base}.to`,
          ),
        );
      }
      const seen = new Set<string>();
      if (Array.isArray(p.to)) checkAddressList(p.to, `${base}.to`, errors, seen);
      checkAddressList(p.cc, `${base}.cc`, errors, seen);
      checkAddressList(p.bcc, `${base}.bcc`, errors, seen);
      checkCustomArgs(p.custom_args, `${base}.custom_args`, errors);
      checkHeaders(p.headers, `${base}.headers`, errors);
      if (!isNonEmptyString(p.subject)) everyPersonalizationHasSubject = false;
    });
  }

  // subject
  if (!hasTemplate && !isNonEmptyString(body.subject) && !everyPersonalizationHasSubject) {
    errors.push(
      err(
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
        'subject',
      ),
    );
  }

  // content
  const content = body.content;
  if (content === undefined || (Array.isArray(content) && content.length === 0)) {
    if (!hasTemplate) {
      errors.push(
        err(
          'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
          'content',
        ),
      );
    }
  } else if (!Array.isArray(content)) {
    errors.push(err('Invalid type. Expected: array, given: ' + typeof content + '.', 'content'));
  } else {
    content.forEach((c, i) => {
      if (!isRecord(c) || !isNonEmptyString(c.type)) {
        errors.push(err('The content type must be a string at least one character in length.', `content.${i}.type`));
      }
      if (!isRecord(c) || typeof c.value !== 'string' || c.value.length === 0) {
        errors.push(err('The content value must be a string at least one character in length.', `content.${i}.value`));
      }
    });
  }

  checkCustomArgs(body.custom_args, 'custom_args', errors);
  checkHeaders(body.headers, 'headers', errors);
  if (body.categories !== undefined) {
    if (!Array.isArray(body.categories) || !body.categories.every((c) => typeof c === 'string')) {
      errors.push(err('The categories param must be an array of strings.', 'categories'));
    } else if (body.categories.length > 10) {
      errors.push(err('You may not have more than 10 categories per request.', 'categories'));
    }
  }
  return errors;
}

function toMessage(body: Record<string, unknown>, id: string): SendgridMessage {
  const p0 = Array.isArray(body.personalizations) && isRecord(body.personalizations[0]) ? body.personalizations[0] : {};
  const to0 = Array.isArray(p0.to) && isRecord(p0.to[0]) ? p0.to[0] : {};
  return {
    id,
    receivedAt: Date.now(),
    body,
    customArgs: {
      ...(isRecord(body.custom_args) ? (body.custom_args as Record<string, string>) : {}),
      ...(isRecord(p0.custom_args) ? (p0.custom_args as Record<string, string>) : {}),
    },
    to: String(to0.email ?? ''),
    subject: typeof p0.subject === 'string' ? p0.subject : typeof body.subject === 'string' ? body.subject : undefined,
    categories: Array.isArray(body.categories) ? (body.categories as string[]) : [],
    headers: {
      ...(isRecord(body.headers) ? (body.headers as Record<string, string>) : {}),
      ...(isRecord(p0.headers) ? (p0.headers as Record<string, string>) : {}),
    },
  };
}

/** SendGrid-style message id (22 url-safe chars). */
function newMessageId(): string {
  return randomBytes(16).toString('base64url');
}

/** A condition of an activity feed query, as far as this server understands the query language. */
export type ActivityCondition = { uniqueArg: string; equals: string } | { msgId: string } | { msgIdPrefix: string };

/**
 * Reads an Email Activity Feed `query`: conditions joined by AND, each `unique_args['name']="value"`,
 * `msg_id="value"` or `msg_id LIKE 'prefix%'`, optionally in parentheses. Undefined for anything else
 * (SendGrid's language has more; a query this server cannot answer exactly is refused, not guessed at).
 */
export function parseActivityQuery(query: string): ActivityCondition[] | undefined {
  const condition = /\s*(\()?\s*(?:unique_args\['([^']+)'\]\s*=\s*"((?:[^"\\]|\\.)*)"|msg_id\s*=\s*"([^"]*)"|msg_id\s+LIKE\s+'([^'%]*)%')\s*(\))?\s*/sy;
  const and = /AND\b/y;
  const conditions: ActivityCondition[] = [];
  let at = 0;
  for (;;) {
    condition.lastIndex = at;
    const m = condition.exec(query);
    if (!m || Boolean(m[1]) !== Boolean(m[6])) return undefined;
    if (m[2] !== undefined) conditions.push({ uniqueArg: m[2], equals: m[3]!.replace(/\\(.)/gs, '$1') });
    else if (m[4] !== undefined) conditions.push({ msgId: m[4] });
    else conditions.push({ msgIdPrefix: m[5]! });
    at = condition.lastIndex;
    if (at === query.length) return conditions;
    and.lastIndex = at;
    if (!and.exec(query)) return undefined;
    at = and.lastIndex;
  }
}

/** The feed's id of a message: SendGrid's begins with the X-Message-Id the send answered with. */
export function activityMessageId(message: Pick<SendgridMessage, 'id'>): string {
  return `${message.id}.filter0001p1local1-1-0-0.0`;
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const sendErrors = (res: http.ServerResponse, status: number, errors: SendgridError[], headers?: http.OutgoingHttpHeaders) =>
  sendJson(res, status, { errors }, headers);

type BodyResult = { ok: true; raw: Buffer } | { ok: false; tooLarge: true };

/** Reads the whole body; past the limit it keeps draining (so the client sees a response, not EPIPE) but drops data. */
function readBody(req: http.IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length'] ?? 0) > limit;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? { ok: false, tooLarge: true } : { ok: true, raw: Buffer.concat(chunks) }));
    req.on('error', reject);
  });
}

export async function startSendgridServer(opts: SendgridServerOptions = {}): Promise<SendgridServer> {
  const apiKey = opts.apiKey;
  let messages: SendgridMessage[] = [];
  let requests = 0;
  let activityRequests = 0;
  const initialFeed: Required<ActivityFeedOptions> = { lagMs: 0, available: true, ...opts.activityFeed };
  let feed = initialFeed;
  let faults: Fault[] = [];
  let rateLimited = 0;
  let planRate = opts.planRate;
  // The plan's bucket: `tokens` sends left, refilled at planRate a second up to one second's worth.
  let tokens = planRate ?? 0;
  let refilledAt = Date.now();
  const takeToken = (): boolean => {
    if (planRate === undefined) return true;
    const now = Date.now();
    tokens = Math.min(planRate, tokens + ((now - refilledAt) / 1000) * planRate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
  const hangTimers = new Set<NodeJS.Timeout>();
  type Waiter = { n: number; resolve: (m: SendgridMessage[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  const waiters = new Set<Waiter>();

  const notify = () => {
    for (const w of waiters) {
      if (messages.length >= w.n) {
        clearTimeout(w.timer);
        waiters.delete(w);
        w.resolve([...messages]);
      }
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        hangTimers.delete(t);
        resolve();
      }, ms);
      hangTimers.add(t);
    });

  /** Returns true if the fault produced the response. */
  async function applyFault(fault: Fault, res: http.ServerResponse): Promise<boolean> {
    switch (fault.status) {
      case 'hang':
        await sleep(fault.ms);
        return false; // then handled normally — unless the client gave up meanwhile (checked by caller)
      case 'slow-202':
        return false; // handled normally, the 202 held back (in handleSend)
      case 429: {
        const reset = Math.floor(Date.now() / 1000) + Math.ceil(fault.resetSeconds ?? 1);
        sendErrors(res, 429, [err('too many requests')], {
          'X-RateLimit-Limit': String(RATE_LIMIT),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(reset),
        });
        return true;
      }
      case 400:
        sendErrors(res, 400, [err(fault.message ?? 'Bad Request')]);
        return true;
      default: {
        const text: Record<number, string> = { 500: 'internal error', 502: 'bad gateway', 503: 'service unavailable' };
        sendErrors(res, fault.status, [err(text[fault.status] ?? 'error')]);
        return true;
      }
    }
  }

  async function handleSend(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const fault = faults.shift();
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    const body = await readBody(req, MAX_BODY_BYTES);

    if (fault && (await applyFault(fault, res))) return;
    if (clientGone) return; // e.g. client timed out during a 'hang' fault: nothing is accepted

    if (!body.ok) {
      sendErrors(res, 413, [err(`The request body exceeds the maximum size of ${MAX_BODY_BYTES} bytes.`)], {
        Connection: 'close',
      });
      return;
    }

    if (refuseAuth(req, res)) return;
    if (!takeToken()) {
      rateLimited += 1;
      sendErrors(res, 429, [err('too many requests')], {
        'X-RateLimit-Limit': String(Math.round(planRate ?? 0)),
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(Math.floor(Date.now() / 1000) + 1),
      });
      return;
    }

    let parsed: unknown;
    try {
      parsed = JSON.parse(body.raw.toString('utf8'));
    } catch {
      sendErrors(res, 400, [err('Bad Request')]);
      return;
    }
    const errors = validateMailSend(parsed);
    if (errors.length > 0) {
      sendErrors(res, 400, errors);
      return;
    }

    const id = newMessageId();
    messages.push(toMessage(parsed as Record<string, unknown>, id));
    if (fault?.status === 'slow-202') await sleep(fault.ms);
    res.writeHead(202, { 'X-Message-Id': id, 'Content-Length': 0 });
    res.end();
    notify();
  }

  /** Answers 401 when the key is missing or wrong; true if it did. */
  function refuseAuth(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (apiKey === undefined) return false;
    const auth = req.headers.authorization;
    if (!auth) {
      sendErrors(res, 401, [err('Permission denied, wrong credentials')]);
      return true;
    }
    if (auth !== `Bearer ${apiKey}`) {
      sendErrors(res, 401, [err('The provided authorization grant is invalid, expired, or revoked')]);
      return true;
    }
    return false;
  }

  function handleActivity(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    if (refuseAuth(req, res)) return;
    if (!feed.available) {
      sendErrors(res, 404, [err('resource not found')]);
      return;
    }
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const limitText = params.get('limit');
    const limit = limitText === null ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      sendErrors(res, 400, [err('limit must be an integer from 1 to 1000', 'limit')]);
      return;
    }
    const query = params.get('query');
    const conditions = query === null ? [] : parseActivityQuery(query);
    if (!conditions) {
      sendErrors(res, 400, [err('invalid query', 'query')]);
      return;
    }
    const now = Date.now();
    const matches = (m: SendgridMessage) =>
      conditions.every((c) =>
        'uniqueArg' in c ? m.customArgs[c.uniqueArg] === c.equals : 'msgId' in c ? activityMessageId(m) === c.msgId : activityMessageId(m).startsWith(c.msgIdPrefix),
      );
    const found: ActivityFeedMessage[] = messages
      .filter((m) => m.receivedAt + feed.lagMs <= now && matches(m))
      .reverse()
      .slice(0, limit)
      .map((m) => ({
        msg_id: activityMessageId(m),
        from_email: String(isRecord(m.body.from) ? m.body.from.email : ''),
        subject: m.subject ?? '',
        to_email: m.to,
        status: 'delivered',
        opens_count: 0,
        clicks_count: 0,
        last_event_time: new Date(m.receivedAt + feed.lagMs).toISOString(),
      }));
    sendJson(res, 200, { messages: found });
  }

  async function handleControl(path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    if (path === '/__inbox' && req.method === 'GET') {
      req.resume();
      sendJson(res, 200, messages, { 'X-Requests-Count': String(requests) });
      return true;
    }
    if (path === '/__inbox' && req.method === 'DELETE') {
      req.resume();
      api.reset();
      res.writeHead(204).end();
      return true;
    }
    if (path === '/__faults' && req.method === 'POST') {
      const body = await readBody(req, 1024 * 1024);
      let parsed: unknown;
      try {
        parsed = body.ok ? JSON.parse(body.raw.toString('utf8')) : undefined;
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed)) {
        sendErrors(res, 400, [err('Expected a JSON array of faults')]);
        return true;
      }
      const problems = parsed.map((f, i) => [i, checkFault(f)] as const).filter(([, p]) => p !== null);
      if (problems.length > 0) {
        sendErrors(res, 400, problems.map(([i, p]) => err(p as string, String(i))));
        return true;
      }
      api.injectFaults(parsed as Fault[]);
      sendJson(res, 200, { queued: faults.length });
      return true;
    }
    return false;
  }

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    const run = async () => {
      if (path.startsWith('/__') && (await handleControl(path, req, res))) return;
      if (path === '/v3/messages') {
        activityRequests++;
        if (req.method !== 'GET') {
          req.resume();
          sendErrors(res, 405, [err('method not allowed')], { Allow: 'GET' });
          return;
        }
        handleActivity(req, res);
        return;
      }
      requests++;
      if (path === '/v3/mail/send') {
        if (req.method !== 'POST') {
          req.resume();
          sendErrors(res, 405, [err('method not allowed')], { Allow: 'POST' });
          return;
        }
        await handleSend(req, res);
        return;
      }
      req.resume();
      sendErrors(res, 404, [err('resource not found')]);
    };
    run().catch((e: unknown) => {
      sendErrors(res, 500, [err(`sendgrid-server internal error: ${e instanceof Error ? e.message : String(e)}`)]);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const api: SendgridServer = {
    url,
    port,
    get messages() {
      return messages;
    },
    get requests() {
      return requests;
    },
    get activityRequests() {
      return activityRequests;
    },
    get rateLimited() {
      return rateLimited;
    },
    setPlanRate(perSecond) {
      planRate = perSecond;
      tokens = perSecond ?? 0;
      refilledAt = Date.now();
    },
    setActivityFeed(options) {
      feed = { ...feed, ...options };
    },
    eventWebhook(options) {
      return eventWebhookEmitter(options);
    },
    injectFaults(newFaults) {
      for (const f of newFaults) {
        const problem = checkFault(f);
        if (problem) throw new Error(`injectFaults: ${problem}: ${JSON.stringify(f)}`);
      }
      faults.push(...newFaults);
    },
    waitForMessages(n, timeoutMs = 10_000) {
      if (messages.length >= n) return Promise.resolve([...messages]);
      return new Promise<SendgridMessage[]>((resolve, reject) => {
        const w: Waiter = {
          n,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(w);
            const got = messages.map((m) => `  - ${m.id} to=${m.to} subject=${JSON.stringify(m.subject)}`).join('\n');
            reject(
              new Error(
                `sendgrid-server: timed out after ${timeoutMs}ms waiting for ${n} message(s); ` +
                  `${messages.length} accepted (${requests} request(s) received, ${faults.length} fault(s) still queued)` +
                  (got ? `:\n${got}` : ''),
              ),
            );
          }, timeoutMs),
        };
        waiters.add(w);
      });
    },
    reset() {
      messages = [];
      requests = 0;
      activityRequests = 0;
      rateLimited = 0;
      feed = initialFeed;
      faults = [];
    },
    async close() {
      for (const t of hangTimers) clearTimeout(t);
      hangTimers.clear();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`sendgrid-server closed while waiting for ${w.n} message(s); ${messages.length} accepted`));
      }
      waiters.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}
