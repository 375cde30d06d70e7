import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces moved into an encoded payload, so the payload codec encrypts them
 * too (a provider's error text may quote what it was sent). Loaded by path: the worker, its workflow
 * bundle and every client load the same one (`dataConverter.failureConverterPath`).
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
