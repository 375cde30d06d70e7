import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Scope } from '../../src/config/config.js';
import { SignedSessions, sessionSecret } from '../../src/dashboard/signed-sessions.js';

describe('browser sessions as signed tokens', () => {
  const auth = { keyId: 'k1', scopes: new Set<Scope>(['customers:read', 'codec:decode']) };
  const configured = new Map<string, Set<Scope>>([['k1', new Set<Scope>(['customers:read', 'codec:decode'])]]);
  const secret = sessionSecret(['key-one-0123456789']);
  const make = (opts: { now?: () => number; keys?: Map<string, Set<Scope>>; purpose?: string; secret?: Buffer } = {}) =>
    new SignedSessions(60_000, {
      secret: opts.secret ?? secret,
      purpose: opts.purpose ?? 'dashboard',
      keyScopes: (id) => (opts.keys ?? configured).get(id),
      ...(opts.now ? { now: opts.now } : {}),
    });

  test('another instance with the same secret accepts the token until it expires', () => {
    let now = 1_000;
    const one = make({ now: () => now });
    const other = make({ now: () => now });
    const token = one.create(auth);
    assert.match(token, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    assert.ok(!token.includes('key-one'), 'the key is never in the token');
    assert.notEqual(token, one.create(auth), 'two sign-ins, two tokens');
    assert.deepEqual([...other.get(token)!.scopes].sort(), ['codec:decode', 'customers:read']);
    now += 59_999;
    assert.ok(other.get(token));
    now += 1;
    assert.equal(other.get(token), undefined, 'expired');
  });

  test('refused: a forged or altered token, another purpose, another secret, garbage', () => {
    const one = make();
    const token = one.create(auth);
    const [v, payload, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { e: number };
    const longer = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3_600_000 })).toString('base64url');
    assert.equal(one.get(`${v}.${longer}.${sig}`), undefined, 'a payload changed under the old signature');
    assert.equal(make({ purpose: 'codec' }).get(token), undefined, 'a dashboard token is no codec token');
    assert.equal(make({ secret: sessionSecret(['another-key-0123456789']) }).get(token), undefined);
    for (const bad of [undefined, '', 'v1', 'v1..', `v2.${payload}.${sig}`, `v1.${payload}.${sig}x`, `v1.e30.${sig}`]) assert.equal(one.get(bad), undefined, String(bad));
  });

  test('a key removed or narrowed in the configuration ends or narrows its sessions at once', () => {
    const token = make().create(auth);
    assert.equal(make({ keys: new Map() }).get(token), undefined);
    const narrowed = make({ keys: new Map([['k1', new Set<Scope>(['customers:read'])]]) }).get(token);
    assert.deepEqual([...narrowed!.scopes], ['customers:read']);
  });

  test('the secret: SESSION_SECRET when set, else the whole key list in any order', () => {
    assert.deepEqual(sessionSecret(['a-key-0123456789', 'b-key-0123456789']), sessionSecret(['b-key-0123456789', 'a-key-0123456789']));
    assert.notDeepEqual(sessionSecret(['a-key-0123456789']), sessionSecret(['a-key-0123456789', 'b-key-0123456789']));
    assert.deepEqual(sessionSecret(['a'], 'x'.repeat(32)), sessionSecret(['b'], 'x'.repeat(32)));
  });
});
