import type { DataConverter } from '@temporalio/common';
import { journeyDataConverter } from '../../src/codec/data-converter.js';
import { PayloadKeys } from '../../src/codec/payload-keys.js';

/**
 * The payload key every test process encrypts with (a fixed one, in the open: saved histories recorded
 * with it must replay). Worker and API processes started by runEntry get it unless a test says otherwise.
 */
export const TEST_PAYLOAD_KEYS = 'test-1:1nd2kklBJjbCrTw3583Skodg3Q1PeWkR0zT2eEdKDtg=';

export function testPayloadKeys(): PayloadKeys {
  return PayloadKeys.parse(TEST_PAYLOAD_KEYS);
}

/** The data converter of the test harnesses' clients and workers: the one production uses, with the test key. */
export function testDataConverter(): DataConverter {
  return journeyDataConverter(testPayloadKeys());
}
