import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import twilio from 'twilio';
import { z } from 'zod';
import type { FeedbackSink } from '../channels/feedback.js';
import { TWILIO_STATUS_PATH } from '../channels/sms.js';
import type { SmsInbound } from '../channels/sms-inbound.js';
import { feedbackOfStatus } from '../channels/sms-status.js';
import { HttpError, invalid } from '../http/errors.js';

export { TWILIO_STATUS_PATH };
/** Where Twilio posts the messages customers send to our number (set as the number's or Messaging Service's incoming webhook). */
export const TWILIO_INBOUND_PATH = '/v1/webhooks/twilio/inbound';
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
/** Twilio's parameters are short; this bounds what a caller can make us read. */
const BODY_LIMIT = '64kb';

const MessageSid = z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, 'a Twilio message SID (SM or MM and 32 hex digits)');
const PhoneParam = z.string().min(1).max(64);

/** Twilio's status callback (form-encoded); parameters we do not read are allowed. */
export const TwilioStatusCallback = z.looseObject({
  MessageSid,
  MessageStatus: z.string().regex(/^[a-z_]{1,32}$/, 'a Twilio message status (delivered, undelivered, failed, sent, ...)'),
  ErrorCode: z
    .string()
    .regex(/^\d{1,6}$/)
    .optional(),
  AccountSid: z.string().optional(),
});
export const TwilioStatusQuery = z.looseObject({ key: z.string().min(1).max(400) });

/** An incoming text message (form-encoded); parameters we do not read are allowed. */
export const TwilioInboundMessage = z.looseObject({
  MessageSid,
  From: PhoneParam,
  To: PhoneParam.optional(),
  Body: z.string().max(1600).optional(),
  /** Set by Twilio's Advanced Opt-Out when the body matched one of its keywords. */
  OptOutType: z.string().max(32).optional(),
});

export const TwilioStatusApplied = z.strictObject({
  result: z.enum(['applied', 'duplicate', 'ignored', 'orphaned']).meta({ description: 'applied: stored and told to the journey (or only recorded when it changes nothing there); duplicate: seen before; ignored: not a message of ours, or a status that means nothing here; orphaned: stored, the customer has no journey' }),
});

export interface TwilioWebhookOptions {
  /** TWILIO_AUTH_TOKEN: what Twilio signs its requests with. Without it both routes answer 404 not_configured. */
  authToken?: string;
  /** PUBLIC_URL: the address Twilio calls, which the signature covers. */
  publicUrl: string;
  /** Where delivery receipts go. */
  feedback?: FeedbackSink;
  /** Where replies (STOP, START, HELP) go. */
  inbound?: SmsInbound;
  now?: () => number;
}

/**
 * Twilio's callbacks: the status of each text message we sent (the delivery key in the query, as the SMS
 * channel wrote it in StatusCallback) and the messages customers send to our number. Authenticated by
 * X-Twilio-Signature (the SDK's validateRequest: HMAC-SHA1 of PUBLIC_URL + path and query, followed by the
 * sorted form parameters, keyed with the auth token), not by an API key; a missing or wrong signature is 403
 * and nothing is read further or changed. Not rate-limited: Twilio's volume follows what we send.
 */
export function twilioWebhookRoutes(opts: TwilioWebhookOptions): Router {
  const router = express.Router();
  const now = opts.now ?? Date.now;
  const form = express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 100 });
  const configured: RequestHandler = (_req, _res, next) => {
    if (!opts.authToken || !opts.feedback || !opts.inbound) {
      return next(new HttpError(404, 'not_configured', 'Twilio callbacks are not configured on this API: set TWILIO_AUTH_TOKEN (and PUBLIC_URL to the address Twilio calls)'));
    }
    next();
  };
  const signed: RequestHandler = (req, _res, next) => {
    const signature = req.headers[TWILIO_SIGNATURE_HEADER];
    if (typeof signature !== 'string' || signature === '') return next(new HttpError(403, 'forbidden', `not signed: ${req.path} takes Twilio's requests, signed with X-Twilio-Signature`));
    next();
  };
  const verified: RequestHandler = (req, _res, next) => {
    const params = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const url = `${opts.publicUrl.replace(/\/+$/, '')}${req.originalUrl}`;
    if (!twilio.validateRequest(opts.authToken!, String(req.headers[TWILIO_SIGNATURE_HEADER]), url, params)) {
      return next(new HttpError(403, 'forbidden', `X-Twilio-Signature does not match this request to ${url} (is PUBLIC_URL the address Twilio calls, and TWILIO_AUTH_TOKEN its auth token?)`));
    }
    next();
  };

  router.post(TWILIO_STATUS_PATH, configured, signed, form, verified, async (req: Request, res: Response) => {
    const query = TwilioStatusQuery.safeParse(req.query);
    if (!query.success) throw invalid(query.error, 'query');
    const body = TwilioStatusCallback.safeParse(req.body);
    if (!body.success) throw invalid(body.error, 'request');
    const feedback = feedbackOfStatus(
      { messageSid: body.data.MessageSid, status: body.data.MessageStatus, ...(body.data.ErrorCode ? { errorCode: Number(body.data.ErrorCode) } : {}) },
      query.data.key,
      now(),
    );
    res.json({ result: feedback ? await opts.feedback!.apply(feedback) : 'ignored' });
  });

  router.post(TWILIO_INBOUND_PATH, configured, signed, form, verified, async (req: Request, res: Response) => {
    const body = TwilioInboundMessage.safeParse(req.body);
    if (!body.success) throw invalid(body.error, 'request');
    const outcome = await opts.inbound!.receive({
      from: body.data.From,
      ...(body.data.Body !== undefined ? { body: body.data.Body } : {}),
      ...(body.data.OptOutType ? { optOutType: body.data.OptOutType } : {}),
    });
    const twiml = new twilio.twiml.MessagingResponse();
    // With OptOutType, Twilio's Advanced Opt-Out matched the keyword and sent its own confirmation: one answer is enough.
    if (outcome.reply && !body.data.OptOutType) twiml.message(outcome.reply);
    res.type('text/xml').send(twiml.toString());
  });
  return router;
}
