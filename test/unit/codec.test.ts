import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError, encodeErrorToFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/index.js';
import proto from '@temporalio/proto';
import { journeyDataConverter } from '../../src/codec/data-converter.js';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, PayloadDecryptionError } from '../../src/codec/encryption-codec.js';
import { PayloadKeys, PayloadKeysError } from '../../src/codec/payload-keys.js';
import { ConfigError, loadConfig, payloadEncryption } from '../../src/config/config.js';

const K1 = Buffer.alloc(32, 1).toString('base64');
const K2 = Buffer.alloc(32, 2).toString('base64');
const EMAIL = 'ada.lovelace@example.com';

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;
const valueOf = (payload: Payload) => defaultPayloadConverter.fromPayload(payload);

describe('payload keys (PAYLOAD_KEYS)', () => {
  test('the first key encrypts, every key decrypts; base64 and base64url are both read', () => {
    const keys = PayloadKeys.parse(` k2:${K2} , k1:${Buffer.alloc(32, 1).toString('base64url')}`);
    assert.equal(keys.primaryId, 'k2');
    assert.deepEqual(keys.ids, ['k2', 'k1']);
    assert.deepEqual(keys.primary().key, Buffer.alloc(32, 2));
    assert.deepEqual(keys.key('k1'), Buffer.alloc(32, 1));
    assert.equal(keys.key('k3'), undefined);
  });

  test('every problem is reported, none with key material', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let error: PayloadKeysError | undefined;
    try {
      PayloadKeys.parse(`k1:${short},k1:${K1},bad id:${K2},k3:not*base64,k4`);
    } catch (err) {
      error = err as PayloadKeysError;
    }
    assert.ok(error instanceof PayloadKeysError);
    assert.deepEqual(error.problems, [
      'key "k1": the key must be 32 random bytes in base64 (openssl rand -base64 32), got 16 bytes',
      'entry 3: write id:base64key, the id 1-64 letters, digits, _ . or -',
      'key "k3": the key must be 32 random bytes in base64 (openssl rand -base64 32), got no base64',
      'entry 5: write id:base64key, the id 1-64 letters, digits, _ . or -',
    ]);
    assert.throws(() => PayloadKeys.parse(`k1:${K1},k1:${K2}`), { message: 'key "k1" is given twice' });
    assert.throws(() => PayloadKeys.parse(' , '), PayloadKeysError);
    for (const secret of [short, K1, K2]) assert.ok(!error.message.includes(secret));
  });

  test('printed or serialised, the keys show their ids only', () => {
    const keys = PayloadKeys.parse(`k2:${K2},k1:${K1}`);
    for (const shown of [inspect(keys), inspect({ config: keys }), JSON.stringify({ keys }), String(keys)]) {
      assert.ok(!shown.includes(K1) && !shown.includes(K2), shown);
      assert.match(shown, /k2/);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(keys)), { primary: 'k2', ids: ['k2', 'k1'] });
    assert.match(PayloadKeys.generate('dev-1'), /^dev-1:[A-Za-z0-9+/]{43}=$/);
  });

  test('a worker or API never runs without encryption unless told to; a bad key is a configuration error', () => {
    assert.throws(() => payloadEncryption(loadConfig({})), (err: ConfigError) => /PAYLOAD_KEYS: set the keys/.test(err.message));
    assert.equal(payloadEncryption(loadConfig({ PAYLOAD_ENCRYPTION: 'off' })), 'off');
    assert.throws(() => payloadEncryption(loadConfig({ PAYLOAD_ENCRYPTION: 'off', PAYLOAD_KEYS: `k1:${K1}` })), ConfigError);
    assert.equal((payloadEncryption(loadConfig({ PAYLOAD_KEYS: `k1:${K1}` })) as PayloadKeys).primaryId, 'k1');
    assert.throws(
      () => loadConfig({ PAYLOAD_KEYS: 'k1:c2hvcnQ=' }),
      (err: ConfigError) => err.problems.length === 1 && err.problems[0]!.startsWith('PAYLOAD_KEYS: key "k1": the key must be 32 random bytes'),
    );
  });
});

describe('the encryption codec', () => {
  const codec = new EncryptionCodec(PayloadKeys.parse(`k1:${K1}`));

  test('encrypts the whole payload with AES-256-GCM under the primary key id, a fresh IV each time', async () => {
    const plain = json({ email: EMAIL, properties: { plan: 'full' } });
    const [a, b] = await codec.encode([plain, plain]);
    for (const sealed of [a!, b!]) {
      assert.equal(text(sealed.metadata!.encoding), ENCRYPTED_ENCODING);
      assert.equal(text(sealed.metadata![KEY_ID_METADATA]), 'k1');
      assert.equal(text(sealed.metadata!['encryption-cipher']), 'AES-256-GCM');
      assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('ada.lovelace'), 'no plain text');
      assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('json/plain'), 'the metadata is inside too');
    }
    assert.notDeepEqual(Buffer.from(a!.data!).subarray(0, 12), Buffer.from(b!.data!).subarray(0, 12), 'a fresh IV');
    assert.notDeepEqual(a!.data, b!.data);
    const decoded = await codec.decode([a!, b!]);
    assert.deepEqual(decoded.map(valueOf), [
      { email: EMAIL, properties: { plan: 'full' } },
      { email: EMAIL, properties: { plan: 'full' } },
    ]);
    assert.equal(text(decoded[0]!.metadata!.encoding), 'json/plain');
  });

  test('payloads from before encryption decode unchanged', async () => {
    const plain = json('ada');
    const [same] = await codec.decode([plain]);
    assert.equal(same, plain);
  });

  test('rotation: with a new primary key first, old payloads still decode and new ones use the new key', async () => {
    const [old] = await codec.encode([json('written with k1')]);
    const rotated = new EncryptionCodec(PayloadKeys.parse(`k2:${K2},k1:${K1}`));
    assert.equal(valueOf((await rotated.decode([old!]))[0]!), 'written with k1');
    const [fresh] = await rotated.encode([json('written with k2')]);
    assert.equal(text(fresh!.metadata![KEY_ID_METADATA]), 'k2');
    await assert.rejects(codec.decode([fresh!]), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptionError);
      assert.equal(err.message, 'payload encrypted with key id "k2", which is not among the configured keys (k1): add it to PAYLOAD_KEYS');
      return true;
    });
  });

  test('altered data, a swapped key or a missing key id are refused, never decoded to garbage', async () => {
    const [sealed] = await codec.encode([json({ email: EMAIL })]);
    const flipped = Buffer.from(sealed!.data!);
    flipped[20]! ^= 1;
    await assert.rejects(codec.decode([{ ...sealed!, data: flipped }]), /does not authenticate: wrong key or altered data/);
    const impostor = new EncryptionCodec(PayloadKeys.parse(`k1:${K2}`));
    await assert.rejects(impostor.decode([sealed!]), /does not authenticate/);
    const { [KEY_ID_METADATA]: _id, ...noKeyId } = sealed!.metadata!;
    await assert.rejects(codec.decode([{ ...sealed!, metadata: noKeyId }]), /without encryption-key-id metadata/);
    await assert.rejects(codec.decode([{ ...sealed!, data: Buffer.alloc(10) }]), /too short/);
  });

  test('the data converter also encrypts failure messages and stack traces', async () => {
    const converter = loadDataConverter(journeyDataConverter(PayloadKeys.parse(`k1:${K1}`)));
    const failure = await encodeErrorToFailure(converter, ApplicationFailure.nonRetryable(`SendGrid 400: ${EMAIL} is not a valid address`, 'DeliveryRejected'));
    assert.equal(failure.message, 'Encoded failure');
    assert.equal(failure.stackTrace, '');
    const bytes = Buffer.from(proto.temporal.api.failure.v1.Failure.encode(failure).finish()).toString('latin1');
    assert.ok(!bytes.includes(EMAIL), 'the message is not in the failure in plain text');
    assert.equal(text(failure.encodedAttributes?.metadata?.encoding), ENCRYPTED_ENCODING);
    const back = await decodeOptionalFailureToOptionalError(converter, failure);
    assert.equal(back?.message, `SendGrid 400: ${EMAIL} is not a valid address`);
    assert.deepEqual(journeyDataConverter('off'), {}, 'off: the SDK defaults, plain JSON');
  });
});
