import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceError } from '@temporalio/client';
import { UpstreamUnavailable } from '../../src/http/errors.js';
import { isJourneyStarting, journeyStartingMessage } from '../../src/temporal/contract.js';

/** A query refused by a journey still loading its plan, as the client hands it over: the workflow's words are the gRPC error's details. */
function refusedQuery(details: string): ServiceError {
  const grpc = Object.assign(new Error(`9 FAILED_PRECONDITION: ${details}`), { code: 9, details });
  return new ServiceError('Failed to query Workflow', { cause: grpc });
}

test('a query refused while the journey loads its plan is told apart from any other failure, however it is wrapped', () => {
  const starting = refusedQuery(journeyStartingMessage('ada'));
  assert.equal(isJourneyStarting(starting), true);
  assert.equal(isJourneyStarting(new UpstreamUnavailable('temporal', starting).reason), true);
  assert.equal(isJourneyStarting(new Error(journeyStartingMessage('ada'))), true);
  assert.equal(isJourneyStarting(refusedQuery('Workflow did not register a handler for getJourney')), false);
  assert.equal(isJourneyStarting(new ServiceError('Failed to query Workflow', { cause: new Error('14 UNAVAILABLE: connection refused') })), false);
  assert.equal(isJourneyStarting(undefined), false);
});
