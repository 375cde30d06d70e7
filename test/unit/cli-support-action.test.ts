import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { supportAction } from '../../src/cli/cli-support.js';

/** The support CLI's actions against a local server that answers with a scripted series of statuses. */
describe('lifecycle customer <action>: retried with its Idempotency-Key', () => {
  let server: Server;
  let script: number[] = [];
  const seen: Array<{ key: string | undefined; body: string }> = [];
  const waits: number[] = [];
  const wait = async (seconds: number) => void waits.push(seconds);

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ key: req.headers['idempotency-key'] as string | undefined, body });
        const status = script.shift() ?? 200;
        if (status === 200) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ stage: 'trial' }));
        res.writeHead(status, { 'content-type': 'application/json', ...(status === 503 ? { 'retry-after': '2' } : {}) });
        res.end(JSON.stringify({ error: { code: status === 503 ? 'upstream_unavailable' : 'refused', message: status === 503 ? 'temporal could not be reached' : 'marketing is paused already' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    process.env.LIFECYCLE_API_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.LIFECYCLE_API_KEY = 'cli-test-key';
  });
  after(() => server.close());

  const reset = (statuses: number[]) => {
    script = statuses;
    seen.length = 0;
    waits.length = 0;
  };

  test('a 503 is sent again with the same key, after Retry-After, and the answer is the action’s', async () => {
    reset([503, 503]);
    assert.deepEqual(await supportAction('/v1/customers/ada/pause-marketing', { reason: 'asked' }, undefined, wait), { stage: 'trial' });
    assert.equal(seen.length, 3);
    assert.match(seen[0]!.key!, /^[0-9a-f-]{36}$/);
    assert.deepEqual(new Set(seen.map((s) => s.key)).size, 1, 'one key for every attempt');
    assert.deepEqual(new Set(seen.map((s) => s.body)), new Set(['{"reason":"asked"}']));
    assert.deepEqual(waits, [2, 2]);
  });

  test('each run of a command is a new key; --idempotency-key names an earlier one', async () => {
    reset([]);
    await supportAction('/v1/customers/ada/pause-marketing', {}, undefined, wait);
    await supportAction('/v1/customers/ada/pause-marketing', {}, undefined, wait);
    await supportAction('/v1/customers/ada/pause-marketing', {}, 'printed-key', wait);
    assert.notEqual(seen[0]!.key, seen[1]!.key);
    assert.equal(seen[2]!.key, 'printed-key');
  });

  test('out of attempts: the error gives the key to run the command again with', async () => {
    reset([503, 503, 503]);
    await assert.rejects(supportAction('/v1/customers/ada/pause-marketing', {}, 'k-1', wait), /503: temporal could not be reached[\s\S]*--idempotency-key k-1/);
    assert.equal(seen.length, 3);
  });

  test('a connection that fails is retried with the key; a missing API key is not', async () => {
    const url = process.env.LIFECYCLE_API_URL!;
    process.env.LIFECYCLE_API_URL = 'http://127.0.0.1:1';
    try {
      reset([]);
      await assert.rejects(supportAction('/v1/customers/ada/pause-marketing', {}, 'k-2', wait), /cannot reach the API[\s\S]*--idempotency-key k-2/);
      assert.deepEqual(waits, [1, 1]);
    } finally {
      process.env.LIFECYCLE_API_URL = url;
    }
    const key = process.env.LIFECYCLE_API_KEY;
    delete process.env.LIFECYCLE_API_KEY;
    try {
      reset([]);
      await assert.rejects(supportAction('/v1/customers/ada/pause-marketing', {}, undefined, wait), /set LIFECYCLE_API_KEY/);
      assert.deepEqual(waits, [], 'not an outage: said once');
    } finally {
      process.env.LIFECYCLE_API_KEY = key;
    }
  });

  test('a refusal is not retried', async () => {
    reset([422]);
    await assert.rejects(supportAction('/v1/customers/ada/pause-marketing', {}, undefined, wait), /422: marketing is paused already/);
    assert.equal(seen.length, 1);
    assert.deepEqual(waits, []);
  });
});
