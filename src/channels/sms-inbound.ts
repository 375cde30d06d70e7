import type { Logger } from 'pino';
import type { CountryCode } from 'libphonenumber-js';
import type { Models } from '../db/models.js';
import { phoneSpellings, readPhoneNumber } from '../delivery/phone-number.js';
import { UpstreamUnavailable, viaMongo } from '../http/errors.js';
import type { PreferenceService } from '../preferences/preference-service.js';
import { PHONE_TRAIT } from './sms.js';
import { keywordReply, smsKeyword, type SmsKeyword } from './sms-keywords.js';

/** What one inbound text came to: the keyword, the customers it changed, and the reply to send (none: no reply). */
export interface InboundOutcome {
  keyword?: SmsKeyword;
  customers: number;
  reply?: string;
}

export interface SmsInboundDeps {
  models: Models;
  preferences: PreferenceService;
  logger: Logger;
  /** SMS_HELP_TEXT. */
  helpText: string;
  /** SMS_DEFAULT_COUNTRY, to read a sender's number Twilio gives without + (it does not, but a relay may). */
  defaultCountry?: CountryCode;
}

/**
 * Replies our customers send to our number (Twilio's inbound message webhook, verified by the route): STOP
 * and its synonyms stop every text message to the number's customers (`smsStoppedAt`, which only START
 * lifts, as carriers require) and turn their `sms` channel preference off, START turns both back on, HELP
 * is answered. Each change goes through the preference service, so the journey's timeline shows it
 * (source `sms-stop`). Anything else gets no answer.
 */
export class SmsInbound {
  constructor(private readonly deps: SmsInboundDeps) {}

  async receive(message: { from: string; body?: string; optOutType?: string }): Promise<InboundOutcome> {
    const keyword = smsKeyword(message.body, message.optOutType);
    if (!keyword) return { customers: 0 };
    const reply = keywordReply(keyword, this.deps.helpText);
    if (keyword === 'help') return { keyword, customers: 0, reply };
    const phone = readPhoneNumber(message.from, this.deps.defaultCountry);
    if (phone.kind === 'invalid') return { keyword, customers: 0, reply };
    const { Customer } = this.deps.models;
    const found = await viaMongo(() => Customer.find({ [`traits.${PHONE_TRAIT}`]: { $in: phoneSpellings(phone.e164) } }, { _id: 1 }).lean());
    const at = new Date();
    for (const { _id: userId } of found) {
      await viaMongo(() =>
        keyword === 'stop'
          ? Customer.updateOne({ _id: userId, smsStoppedAt: { $exists: false } }, { $set: { smsStoppedAt: at } })
          : Customer.updateOne({ _id: userId }, { $unset: { smsStoppedAt: 1 } }),
      );
      try {
        await this.deps.preferences.change(userId, { channels: { sms: keyword === 'start' } }, 'sms-stop', { create: false, at });
      } catch (err) {
        // Twilio does not send an inbound message again: the profile has the change (sending reads it), only the timeline misses it.
        if (!(err instanceof UpstreamUnavailable) || err.upstream !== 'temporal') throw err;
        this.deps.logger.warn({ userId, keyword }, 'SMS keyword applied to the profile; the journey could not be told (Temporal unreachable): its timeline misses this change');
      }
    }
    this.deps.logger.info({ keyword, customers: found.length }, 'SMS keyword received');
    return { keyword, customers: found.length, reply };
  }
}
