import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { supportUpdateId } from '../../src/api/customer-service.js';
import { SupportHeaders } from '../../src/api/schemas.js';
import { DAY } from '../../src/core/reducer-context.js';
import { SUPPORT_UPDATES_KEPT, supportUpdatesToCarry } from '../../src/core/support-rules.js';

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

  test('a run hands on the support updates of the last day, the newest 100', () => {
    const now = 10 * DAY;
    const taken = Array.from({ length: 150 }, (_, i) => ({ id: `u${i}`, at: now - DAY + 1 + i }));
    const carried = supportUpdatesToCarry([{ id: 'old', at: now - DAY }, ...taken], now);
    assert.equal(carried.length, SUPPORT_UPDATES_KEPT);
    assert.deepEqual([carried[0]!.id, carried.at(-1)!.id], ['u50', 'u149'], 'the newest, in the order taken');
    assert.deepEqual(supportUpdatesToCarry([{ id: 'old', at: now - DAY }], now), [], 'a day old: not handed on');
  });
});
