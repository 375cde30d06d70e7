import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec.js';
import type { PayloadKeys } from './payload-keys.js';

export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

/**
 * The data converter of every Temporal client and worker of this project: workflow and activity inputs
 * and results, signals, queries, updates, memos, summaries, continue-as-new state and failure messages
 * are encrypted with the primary payload key. `off` only when encryption was turned off on purpose
 * (PAYLOAD_ENCRYPTION=off): payloads then stay plain JSON, as Temporal stores them by default.
 */
export function journeyDataConverter(keys: PayloadKeys | 'off'): DataConverter {
  if (keys === 'off') return {};
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
