import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { Models } from '../db/models.js';
import { createActivityFeed, type ActivityFeed } from './activity-feed.js';

export interface OutgoingEmail {
  key: string;
  userId: string;
  campaignId: string;
  to: string;
  from: string;
  subject: string;
  html: string;
  text?: string;
  locale: string;
  categories: string[];
  customArgs: Record<string, string>;
  /** Headers of the message itself (marketing: RFC 8058 List-Unsubscribe and List-Unsubscribe-Post). */
  headers?: Record<string, string>;
}

export interface MailResult {
  provider: 'sendgrid' | 'outbox';
  providerMessageId?: string;
}

/** Why a provider refused a message, told apart by what the caller must do about it. */
export class MailError extends Error {
  constructor(
    message: string,
    /** 'rejected': the message itself is bad, retrying cannot help. 'retry': try again, after retryAfterMs if given. */
    readonly kind: 'rejected' | 'retry',
    readonly status?: number,
    readonly retryAfterMs?: number,
    /**
     * 'not-sent': SendGrid answered (with an error), or the connection was never made, so it does not have
     * the message. 'unknown': the request may have reached SendGrid (a timeout, a dropped connection).
     */
    readonly outcome: 'not-sent' | 'unknown' = 'not-sent',
  ) {
    super(message);
    this.name = 'MailError';
  }
}

export interface Mailer {
  readonly provider: 'sendgrid' | 'outbox';
  send(email: OutgoingEmail): Promise<MailResult>;
  /** SendGrid's Email Activity Feed, asked through the same client (and key) as `send`; SendGrid mailer only. */
  readonly activityFeed?: ActivityFeed;
}

/** Without a SendGrid key, messages land in MongoDB's outbox collection, keyed by delivery key. */
export function createOutboxMailer(models: Models): Mailer {
  return {
    provider: 'outbox',
    async send(email) {
      try {
        await models.Outbox.create({
          _id: email.key,
          userId: email.userId,
          campaignId: email.campaignId,
          to: email.to,
          from: email.from,
          subject: email.subject,
          html: email.html,
          ...(email.text ? { text: email.text } : {}),
          locale: email.locale,
          customArgs: email.customArgs,
          ...(email.headers ? { headers: email.headers } : {}),
        });
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
      }
      return { provider: 'outbox', providerMessageId: email.key };
    },
  };
}

interface SendgridResponseError {
  code?: number | string;
  message?: string;
  response?: { headers?: Record<string, string>; body?: { errors?: Array<{ message?: string; field?: string | null }> } };
}

function describeSendgridError(err: SendgridResponseError): string {
  const details = err.response?.body?.errors?.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
  return `SendGrid ${typeof err.code === 'number' ? err.code : 'error'}${details ? `: ${details}` : err.message ? `: ${err.message}` : ''}`;
}

/** Connection errors that mean the request never reached SendGrid. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The real @sendgrid/mail client; `baseUrl` points it at another SendGrid-compatible server (tests do).
 * 400-class answers reject the message for good, except 401/403 (a key problem an operator can fix) and
 * 429 (rate limit, retried after the reset time SendGrid gives).
 */
export function createSendgridMailer(opts: { apiKey: string; baseUrl?: string; timeoutMs?: number }): Mailer {
  const client = new Client();
  client.setApiKey(opts.apiKey);
  if (opts.baseUrl) client.setDefaultRequest('baseUrl', opts.baseUrl.replace(/\/$/, ''));
  (client.setDefaultRequest as (key: string, value: unknown) => void)('timeout', opts.timeoutMs ?? 20_000);
  const mail = new MailService();
  mail.setClient(client);
  return {
    provider: 'sendgrid',
    activityFeed: createActivityFeed(client),
    async send(email) {
      try {
        const [response] = await mail.send({
          to: email.to,
          from: email.from,
          subject: email.subject,
          html: email.html,
          ...(email.text ? { text: email.text } : {}),
          categories: email.categories,
          customArgs: email.customArgs,
          ...(email.headers ? { headers: email.headers } : {}),
        });
        const headers = response.headers as Record<string, string | undefined>;
        return { provider: 'sendgrid', providerMessageId: headers['x-message-id'] };
      } catch (raw) {
        const err = raw as SendgridResponseError;
        const status = typeof err.code === 'number' ? err.code : undefined;
        if (status === 429) {
          const reset = Number(err.response?.headers?.['x-ratelimit-reset']);
          const retryAfterMs = Number.isFinite(reset) && reset > 0 ? Math.max(1_000, reset * 1_000 - Date.now()) : undefined;
          throw new MailError(describeSendgridError(err), 'retry', 429, retryAfterMs);
        }
        if (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 408) {
          throw new MailError(describeSendgridError(err), 'rejected', status);
        }
        if (status !== undefined) throw new MailError(describeSendgridError(err), 'retry', status);
        const outcome = typeof err.code === 'string' && NOT_CONNECTED.has(err.code) ? 'not-sent' : 'unknown';
        throw new MailError(`SendGrid unreachable: ${err.message ?? String(raw)}`, 'retry', undefined, undefined, outcome);
      }
    },
  };
}
