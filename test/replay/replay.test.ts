import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../src/codec/data-converter.js';
import { ENCRYPTED_ENCODING } from '../../src/codec/encryption-codec.js';
import { WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { testDataConverter } from '../support/codec.js';
import { History, SAVED_HISTORIES } from '../support/histories.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * Histories saved from the workflow tests (SAVE_HISTORIES=1 npm test -- workflows) replay against the
 * current workflow code: a change that would break journeys already in flight fails here, before it ships.
 * The replayer decodes with the test payload key, as the workflow tests encrypt with it; histories from
 * before payload encryption (plain JSON) replay through the same codec unchanged.
 */
test('saved journey histories replay against the current workflow code', async () => {
  const files = existsSync(SAVED_HISTORIES) ? readdirSync(SAVED_HISTORIES).filter((f) => f.endsWith('.history.pb')) : [];
  assert.ok(files.length >= 3, `expected saved histories in ${SAVED_HISTORIES}`);
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: silentLogger,
  });
  const histories = files.map((f) => ({ workflowId: f.replace(/\.history\.pb$/, ''), history: History.decode(readFileSync(join(SAVED_HISTORIES, f))) }));
  const encrypted = histories.filter(({ history }) =>
    history.events.some((e) => Buffer.from(e.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.metadata?.encoding ?? []).toString() === ENCRYPTED_ENCODING),
  );
  assert.ok(encrypted.length > 0 && encrypted.length < histories.length, 'both encrypted histories and plain ones from before encryption are replayed');
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, dataConverter: testDataConverter() }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
});
