import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/activity';

/** For assert.rejects: the activity failed with an ApplicationFailure of this type, retryable or not. */
export function isFailure(type: string, retryable: boolean) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type);
    assert.equal(Boolean(err.nonRetryable), !retryable, `nonRetryable should be ${!retryable}`);
    return true;
  };
}
