import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamUnavailable, isMongoOutage, viaMongo } from '../../src/http/errors.js';

/** A Node socket error as it reaches us when the database goes away mid-request. */
function socketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** How FerretDB reports a failure of its backend, or of anything else: a server error with code 1. */
function ferretDbInternal(message: string): Error {
  return Object.assign(new Error(message), { name: 'MongoServerError', code: 1, codeName: 'InternalError' });
}

describe('telling a MongoDB outage from a bug', () => {
  test('driver outage errors, by name, text, label, socket code or cause', () => {
    const outages: unknown[] = [
      Object.assign(new Error('connection 3 to 127.0.0.1:27017 closed'), { name: 'MongoNetworkError' }),
      Object.assign(new Error('Server selection timed out after 30000 ms'), { name: 'MongooseServerSelectionError' }),
      new Error('Operation `profiles.findOne()` buffering timed out after 10000ms'),
      Object.assign(new Error('write failed'), { errorLabels: ['RetryableWriteError'] }),
      socketError('This socket has been ended by the other party', 'EPIPE'),
      socketError('read ECONNRESET', 'ECONNRESET'),
      socketError('connect ECONNREFUSED 127.0.0.1:27017', 'ECONNREFUSED'),
      new Error('update failed', { cause: socketError('write EPIPE', 'EPIPE') }),
      // FerretDB on PostgreSQL while PostgreSQL is down (the cluster's fault test), and while it shuts down.
      ferretDbInternal(
        '[msg_update.go:117 handler.(*Handler).updateDocument] [collection.go:109 postgresql.(*collection).Query] failed to connect to `user=temporal database=ferretdb`:\n\t127.0.0.1:41871 (127.0.0.1): dial error: dial tcp 127.0.0.1:41871: connect: connection refused',
      ),
      ferretDbInternal('[msg_find.go:80] FATAL: the database system is shutting down (SQLSTATE 57P03)'),
    ];
    for (const err of outages) assert.equal(isMongoOutage(err), true, String(err));
  });

  test('bad data and bugs are not outages', () => {
    const bugs: unknown[] = [
      Object.assign(new Error('E11000 duplicate key error'), { name: 'MongoServerError', code: 11000 }),
      new TypeError("Cannot read properties of undefined (reading 'userId')"),
      Object.assign(new Error('Cast to ObjectId failed'), { name: 'CastError' }),
      ferretDbInternal('[msg_find.go:80] unexpected value in filter'),
      undefined,
      'a string',
    ];
    for (const err of bugs) assert.equal(isMongoOutage(err), false, String(err));
    const cyclic = new Error('loop') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    assert.equal(isMongoOutage(cyclic), false, 'a cause that points at itself ends');
  });

  test('viaMongo turns outages into a retryable UpstreamUnavailable and passes the rest through', async () => {
    await assert.rejects(
      viaMongo(() => Promise.reject(socketError('This socket has been ended by the other party', 'EPIPE'))),
      (err: unknown) => err instanceof UpstreamUnavailable && err.upstream === 'mongodb',
    );
    await assert.rejects(viaMongo(() => Promise.reject(new TypeError('bug'))), TypeError);
    assert.equal(await viaMongo(() => Promise.resolve(42)), 42);
  });
});
