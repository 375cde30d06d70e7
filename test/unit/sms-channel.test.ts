/** The SMS channel's pure parts: phone numbers, reply keywords, Twilio's statuses, quiet hours, config. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { smsTiming, statusCallbackUrl } from '../../src/channels/sms.js';
import { keywordReply, smsKeyword } from '../../src/channels/sms-keywords.js';
import { feedbackOfStatus, feedbackTypeOfStatus } from '../../src/channels/sms-status.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { phoneSpellings, readPhoneNumber } from '../../src/delivery/phone-number.js';
import { smsErrorOf } from '../../src/delivery/twilio-client.js';
import { twilioSignature } from '../support/twilio-server.js';
import twilio from 'twilio';

describe('phone numbers (libphonenumber-js)', () => {
  test('international and national spellings become E.164; national ones need a country', () => {
    assert.deepEqual(readPhoneNumber('+49 1512 3456789'), { kind: 'valid', e164: '+4915123456789' });
    assert.deepEqual(readPhoneNumber('0049 1512 3456789'), { kind: 'valid', e164: '+4915123456789' });
    assert.deepEqual(readPhoneNumber('01512 3456789', 'DE'), { kind: 'valid', e164: '+4915123456789' });
    assert.deepEqual(readPhoneNumber('(415) 555-2671', 'US'), { kind: 'valid', e164: '+14155552671' });
    assert.equal(readPhoneNumber('01512 3456789').kind, 'invalid');
    assert.match((readPhoneNumber('01512 3456789') as { reason: string }).reason, /SMS_DEFAULT_COUNTRY/);
  });

  test('numbers that cannot exist, and what is not a number, are invalid with the reason', () => {
    assert.deepEqual(readPhoneNumber('12', 'DE'), { kind: 'invalid', reason: 'not a valid phone number in DE' });
    assert.deepEqual(readPhoneNumber('+49 123'), { kind: 'invalid', reason: 'not a valid phone number in DE' });
    assert.deepEqual(readPhoneNumber('call me', 'DE'), { kind: 'invalid', reason: 'not a phone number' });
    assert.deepEqual(readPhoneNumber(''), { kind: 'invalid', reason: 'no phone number' });
    assert.deepEqual(readPhoneNumber(4915123456789), { kind: 'invalid', reason: 'no phone number' });
  });

  test('an inbound sender is matched against the spellings a profile may hold', () => {
    const spellings = phoneSpellings('+4915123456789');
    for (const s of ['+4915123456789', '4915123456789', '+49 1512 3456789', '01512 3456789', '015123456789', '004915123456789']) assert.ok(spellings.includes(s), s);
  });
});

describe('reply keywords (STOP / START / HELP)', () => {
  test('the whole message, any case, trailing punctuation and space ignored', () => {
    for (const body of ['STOP', 'stop', ' Stop. ', 'STOPALL', 'unsubscribe', 'Cancel', 'END', 'quit!', 'OPTOUT', 'REVOKE']) assert.equal(smsKeyword(body), 'stop', body);
    for (const body of ['START', 'unstop', 'Yes']) assert.equal(smsKeyword(body), 'start', body);
    for (const body of ['HELP', 'help?', 'INFO']) assert.equal(smsKeyword(body), 'help', body);
  });

  test('a sentence that contains a keyword is not one; Twilio’s OptOutType wins', () => {
    for (const body of ['please stop texting me at night', 'STOP IT', 'stopp', '', undefined]) assert.equal(smsKeyword(body), undefined, String(body));
    assert.equal(smsKeyword('Arrêt', 'STOP'), 'stop');
    assert.equal(smsKeyword('whatever', 'START'), 'start');
    assert.equal(smsKeyword('whatever', 'HELP'), 'help');
  });

  test('each keyword is confirmed; HELP answers the configured text', () => {
    assert.match(keywordReply('stop', 'help'), /unsubscribed.*START/);
    assert.match(keywordReply('start', 'help'), /subscribed.*STOP/);
    assert.equal(keywordReply('help', 'Acme: reply STOP to unsubscribe.'), 'Acme: reply STOP to unsubscribe.');
  });
});

describe('Twilio statuses as journey feedback', () => {
  const sid = 'SM0123456789abcdef0123456789abcdef';
  test('delivered is delivered; undelivered and failed suppress SMS only when the number can never take one', () => {
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'delivered' }), 'delivered');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'undelivered', errorCode: 30003 }), 'undelivered', 'handset off: try again another day');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'undelivered', errorCode: 30005 }), 'failed', 'unknown handset');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'failed', errorCode: 30006 }), 'failed', 'landline');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'failed', errorCode: 21610 }), 'failed', 'replied STOP');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'failed', errorCode: 30007 }), 'undelivered', 'carrier filtering says nothing about the number');
    assert.equal(feedbackTypeOfStatus({ messageSid: sid, status: 'failed' }), 'undelivered');
    for (const status of ['queued', 'sending', 'sent', 'accepted', 'scheduled']) assert.equal(feedbackTypeOfStatus({ messageSid: sid, status }), 'accepted', status);
    for (const status of ['canceled', 'receiving', 'received', 'bogus']) assert.equal(feedbackTypeOfStatus({ messageSid: sid, status }), undefined, status);
  });

  test('one feedback per message and status, for our delivery key', () => {
    assert.deepEqual(feedbackOfStatus({ messageSid: sid, status: 'delivered' }, 'customer-ada/welcome/1', 1_000), {
      id: `${sid}:delivered`,
      channel: 'sms',
      type: 'delivered',
      deliveryKey: 'customer-ada/welcome/1',
      at: 1_000,
    });
    assert.equal(feedbackOfStatus({ messageSid: sid, status: 'canceled' }, 'customer-ada/welcome/1', 1_000), undefined);
  });

  test('the status callback URL carries the delivery key; the signature covers it (the SDK validates what Twilio’s algorithm signs)', () => {
    const url = statusCallbackUrl('https://api.example.com/', 'customer-ada/welcome/1');
    assert.equal(url, 'https://api.example.com/v1/webhooks/twilio/status?key=customer-ada%2Fwelcome%2F1');
    const params = { MessageSid: sid, MessageStatus: 'delivered' };
    const signature = twilioSignature('token-0123456789abcdef', url, params);
    assert.equal(twilio.validateRequest('token-0123456789abcdef', signature, url, params), true);
    assert.equal(twilio.validateRequest('token-0123456789abcdef', signature, url.replace('welcome', 'other'), params), false);
    assert.equal(twilio.validateRequest('token-0123456789abcdef', signature, url, { ...params, MessageStatus: 'failed' }), false);
  });
});

describe('Twilio’s answers', () => {
  test('429 and 5xx are retried (a 5xx may have created the message); 401 waits for the operator; other 4xx fail; 21610 is an opt-out', () => {
    const rest = (status: number, code?: number) => new twilio.RestException({ statusCode: status, body: JSON.stringify({ code, message: 'm' }) });
    assert.equal(smsErrorOf(rest(400, 21211)).kind, 'rejected');
    assert.equal(smsErrorOf(rest(400, 21610)).kind, 'opted-out');
    assert.equal(smsErrorOf(rest(401, 20003)).kind, 'retry');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.deepEqual([smsErrorOf(refused).kind, smsErrorOf(refused).outcome], ['retry', 'not-sent']);
    assert.deepEqual([smsErrorOf(reset).kind, smsErrorOf(reset).outcome], ['retry', 'unknown']);
    assert.throws(() => smsErrorOf(new TypeError('a bug')), TypeError);
  });
});

describe('SMS quiet hours and config', () => {
  test('a campaign without timing gets SMS_QUIET_HOURS; its own quiet hours stay; its window is kept', () => {
    const quiet = { from: '21:00', to: '08:00' };
    assert.deepEqual(smsTiming(undefined, quiet, 'Europe/Berlin'), { optimise: false, defaultTimezone: 'Europe/Berlin', quietHours: quiet });
    const own = { optimise: false, defaultTimezone: 'UTC', quietHours: { from: '22:00', to: '07:00' } };
    assert.equal(smsTiming(own, quiet, 'UTC'), own);
    const windowed = { optimise: true, defaultTimezone: 'UTC', window: { from: '09:00', to: '12:00' } };
    assert.deepEqual(smsTiming(windowed, quiet, 'UTC'), { ...windowed, quietHours: quiet });
  });

  test('Twilio settings come together or not at all; numbers and SIDs are checked', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        return err.problems;
      }
    };
    const sid = `AC${'0123456789abcdef'.repeat(2)}`;
    const config = loadConfig({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 'token-0123456789abcdef', TWILIO_FROM: '+15005550006', SMS_DEFAULT_COUNTRY: 'DE', SMS_QUIET_HOURS: '20:30-09:00' });
    assert.deepEqual(config.SMS_QUIET_HOURS, { from: '20:30', to: '09:00' });
    assert.deepEqual(loadConfig({}).SMS_QUIET_HOURS, { from: '21:00', to: '08:00' });
    assert.deepEqual(problems({ TWILIO_ACCOUNT_SID: sid, TWILIO_FROM: '+15005550006' }), ['TWILIO_AUTH_TOKEN: TWILIO_ACCOUNT_SID is set: set its auth token too']);
    assert.deepEqual(problems({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 'token-0123456789abcdef' }), ['TWILIO_FROM: set one sender: TWILIO_FROM (a number) or TWILIO_MESSAGING_SERVICE_SID, not both']);
    assert.deepEqual(problems({ TWILIO_FROM: '+15005550006' }), ['TWILIO_ACCOUNT_SID: a Twilio sender is set without TWILIO_ACCOUNT_SID']);
    assert.ok(problems({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 'token-0123456789abcdef', TWILIO_FROM: '0150 555' }).includes('TWILIO_FROM: the sending number in E.164, for example +15005550006'));
    assert.equal(problems({ SMS_DEFAULT_COUNTRY: 'XX' }).length, 1);
    assert.equal(problems({ SMS_QUIET_HOURS: '9pm-8am' }).length, 1);
  });
});
