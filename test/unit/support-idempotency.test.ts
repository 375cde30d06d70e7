import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { supportUpdateId } from '../../src/api/customer-service.js';
import { SupportHeaders } from '../../src/api/schemas.js';

describe('a support action’s Idempotency-Key', () => {
  const pause = { action: 'pauseMarketing' as const, actor: 'api-key:support', reason: 'asked on the phone' };

  test('names one update per key and request, whatever order the request’s fields came in', () => {
    const id = supportUpdateId(pause, 'ticket-1');
    assert.equal(supportUpdateId({ reason: 'asked on the phone', actor: 'api-key:support', action: 'pauseMarketing' }, 'ticket-1'), id);
    assert.match(id, /^support-pauseMarketing-[A-Za-z0-9_-]{43}$/);
  });

  test('another key, another body or another API key is another update', () => {
    const id = supportUpdateId(pause, 'ticket-1');
    const others = [
      supportUpdateId(pause, 'ticket-2'),
      supportUpdateId({ ...pause, reason: 'asked by email' }, 'ticket-1'),
      supportUpdateId({ ...pause, actor: 'api-key:admin' }, 'ticket-1'),
      supportUpdateId({ action: 'resumeMarketing', actor: pause.actor, reason: pause.reason }, 'ticket-1'),
      supportUpdateId({ action: 'extendTrial', actor: pause.actor, days: 7 }, 'ticket-1'),
    ];
    assert.equal(new Set([id, ...others]).size, others.length + 1);
  });

  test('the header: visible ASCII, 1-255 characters, optional', () => {
    assert.equal(SupportHeaders.parse({ 'idempotency-key': '0b0e1d3c-8f7a-4b8e-9a51-3c0f2d9e6a10', host: 'x' })['idempotency-key'], '0b0e1d3c-8f7a-4b8e-9a51-3c0f2d9e6a10');
    assert.equal(SupportHeaders.parse({})['idempotency-key'], undefined);
    for (const bad of ['', 'two words', 'x'.repeat(256), 'caf\u00e9', 'tab\there']) {
      assert.equal(SupportHeaders.safeParse({ 'idempotency-key': bad }).success, false, JSON.stringify(bad));
    }
  });
});
