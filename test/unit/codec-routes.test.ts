import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { pino } from 'pino';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import { ErrorBody } from '../../src/api/response-schemas.js';
import { EncryptionCodec } from '../../src/codec/encryption-codec.js';
import { PayloadKeys } from '../../src/codec/payload-keys.js';
import type { Scope } from '../../src/config/config.js';

const UI = 'http://localhost:8233';
const CODEC_KEY = 'codec-test-key-0123456789';
const READ_KEY = 'codec-read-key-0123456789';
const EMAIL = 'ada.lovelace@example.com';
const unb64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

/** A payload as the Web UI sends it: protobuf JSON, bytes in base64. */
const jsonPayload = (value: unknown) => {
  const p = defaultPayloadConverter.toPayload(value)!;
  return { metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(p.data!).toString('base64') };
};

describe('the codec endpoint for the Temporal Web UI and CLI', () => {
  const keys = PayloadKeys.parse(`k2:${Buffer.alloc(32, 2).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`);
  const codec = new EncryptionCodec(keys);
  let base: string;
  let close: () => void;

  before(async () => {
    const apiKeys = new Map<string, Set<Scope>>([
      [CODEC_KEY, new Set<Scope>(['codec:decode'])],
      [READ_KEY, new Set<Scope>(['customers:read', 'events:write', 'customers:write', 'metrics:read'])],
    ]);
    const customers = {} as CustomerService;
    const app = createApp({ customers, apiKeys, logger: pino({ level: 'silent' }), temporalUiUrl: `${UI}/namespaces`, namespace: 'default', codec: { codec } });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  const codecCall = async (direction: 'encode' | 'decode', body: unknown, headers: Record<string, string> = { authorization: `Bearer ${CODEC_KEY}` }) => {
    const res = await fetch(`${base}/codec/${direction}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> } };
  };

  test('encode, then decode, in the codec server protocol: what the workers write comes back as written', async () => {
    const encoded = await codecCall('encode', { payloads: [jsonPayload({ email: EMAIL }), jsonPayload('ada')] });
    assert.equal(encoded.status, 200);
    assert.deepEqual(
      encoded.body.payloads.map((p) => [unb64(p.metadata.encoding!), unb64(p.metadata['encryption-key-id']!)]),
      [
        ['binary/encrypted', 'k2'],
        ['binary/encrypted', 'k2'],
      ],
    );
    assert.ok(!unb64(encoded.body.payloads[0]!.data).includes(EMAIL));
    const [fromWorker] = await codec.encode([defaultPayloadConverter.toPayload({ written: 'by a worker' })!]);
    const workerJson = { metadata: Object.fromEntries(Object.entries(fromWorker!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(fromWorker!.data!).toString('base64') };
    const decoded = await codecCall('decode', { payloads: [...encoded.body.payloads, workerJson, jsonPayload('plain stays plain')] });
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('cache-control'), 'no-store');
    assert.deepEqual(
      decoded.body.payloads.map((p) => [unb64(p.metadata.encoding!), JSON.parse(unb64(p.data))]),
      [
        ['json/plain', { email: EMAIL }],
        ['json/plain', 'ada'],
        ['json/plain', { written: 'by a worker' }],
        ['json/plain', 'plain stays plain'],
      ],
    );
  });

  test('a payload it cannot decrypt is named; nothing is decoded to garbage', async () => {
    const other = new EncryptionCodec(PayloadKeys.parse(`k9:${Buffer.alloc(32, 9).toString('base64')}`));
    const [foreign] = await other.encode([defaultPayloadConverter.toPayload('x')!]);
    const res = await codecCall('decode', {
      payloads: [jsonPayload('fine'), { metadata: Object.fromEntries(Object.entries(foreign!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(foreign!.data!).toString('base64') }],
    });
    assert.equal(res.status, 400);
    const error = ErrorBody.parse(res.body);
    assert.equal(error.error.code, 'invalid_request');
    assert.deepEqual(error.error.issues, [
      { path: 'payloads.1', message: 'payload encrypted with key id "k9", which is not among the configured keys (k2, k1): add it to PAYLOAD_KEYS', code: 'not_decoded' },
    ]);
    assert.equal((await codecCall('decode', { payloads: [{ data: 'not base64!' }] })).status, 400);
  });

  test('behind a key with the scope codec:decode', async () => {
    assert.equal((await codecCall('decode', { payloads: [] }, {})).status, 401);
    assert.equal((await codecCall('decode', { payloads: [] }, { authorization: `Bearer ${READ_KEY}` })).status, 403, 'every other scope is not enough');
    assert.equal((await codecCall('encode', { payloads: [] }, { authorization: `Bearer ${READ_KEY}` })).status, 403);
    assert.equal((await codecCall('decode', { payloads: [] })).status, 200);
  });

  test('CORS: the Web UI origin may call it with credentials and its headers; no other origin may', async () => {
    const preflight = await fetch(`${base}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), UI);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'Content-Type, X-Namespace, Authorization');
    assert.equal(preflight.headers.get('vary'), 'Origin');

    const fromUi = await codecCall('decode', { payloads: [] }, { authorization: `Bearer ${CODEC_KEY}`, origin: UI });
    assert.equal(fromUi.status, 200);
    assert.equal(fromUi.headers.get('access-control-allow-origin'), UI);

    const evilPreflight = await fetch(`${base}/codec/decode`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(evilPreflight.status, 403);
    assert.equal(evilPreflight.headers.get('access-control-allow-origin'), null);
    const evil = await codecCall('decode', { payloads: [] }, { authorization: `Bearer ${CODEC_KEY}`, origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('a browser signs in once: the key becomes an HttpOnly cookie for /codec, which the Web UI sends with credentials', async () => {
    const signIn = (key: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/codec/sign-in`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ key }) });
    const page = await fetch(`${base}/codec/sign-in`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'/);
    assert.match(await page.text(), /<form method="post" action="\/codec\/sign-in">/);

    assert.equal((await signIn('not-a-key-0000000000')).status, 401);
    assert.equal((await signIn(READ_KEY)).status, 403, 'a key without codec:decode');
    assert.equal((await signIn(CODEC_KEY, { 'sec-fetch-site': 'cross-site' })).status, 403, 'not from another site');
    const ok = await signIn(CODEC_KEY);
    assert.equal(ok.status, 303);
    const cookie = ok.headers.get('set-cookie')!;
    assert.match(cookie, /^lifecycle_codec=v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Path=\/codec; HttpOnly; SameSite=Strict; Max-Age=43200$/, 'a signed session token');
    assert.ok(!cookie.includes(CODEC_KEY));
    const session = cookie.split(';')[0]!;

    const withCookie = await codecCall('encode', { payloads: [jsonPayload('x')] }, { cookie: session, origin: UI });
    assert.equal(withCookie.status, 200);
    assert.equal(withCookie.headers.get('access-control-allow-origin'), UI);
    assert.match(await (await fetch(`${base}/codec/sign-in`, { headers: { cookie: session } })).text(), /Signed in\./);
    assert.equal((await codecCall('decode', { payloads: [] }, { cookie: session, authorization: 'Bearer wrong-key-000000000' })).status, 401, 'a Bearer header, when sent, is what counts');

    const out = await fetch(`${base}/codec/sign-out`, { method: 'POST', redirect: 'manual', headers: { cookie: session } });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie')!, /^lifecycle_codec=; Path=\/codec; .*Max-Age=0$/);
    // Signing out deletes the browser's cookie; the token is signed, not stored, so a copy taken before stays
    // valid until it expires (docs/security.md). A tampered one never is.
    assert.equal((await codecCall('decode', { payloads: [] }, { cookie: `${session}x`, origin: UI })).status, 401, 'a tampered token');
  });

  test('without a codec (PAYLOAD_ENCRYPTION=off) payloads pass unchanged', async () => {
    const apiKeys = new Map<string, Set<Scope>>([[CODEC_KEY, new Set<Scope>(['codec:decode'])]]);
    const server = createApp({ customers: {} as CustomerService, apiKeys, logger: pino({ level: 'silent' }), temporalUiUrl: UI, namespace: 'default' }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/codec/encode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CODEC_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: [jsonPayload('ada')] }),
      });
      assert.deepEqual(await res.json(), { payloads: [jsonPayload('ada')] });
    } finally {
      server.close();
    }
  });
});
