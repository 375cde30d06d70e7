import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { History, SAVED_HISTORIES } from '../support/histories.js';

/**
 * Histories saved from the workflow tests (SAVE_HISTORIES=1 npm test -- workflows) replay against the
 * current workflow code: a change that would break journeys already in flight fails here, before it ships.
 */
test('saved journey histories replay against the current workflow code', async () => {
  const files = existsSync(SAVED_HISTORIES) ? readdirSync(SAVED_HISTORIES).filter((f) => f.endsWith('.history.pb')) : [];
  assert.ok(files.length >= 3, `expected saved histories in ${SAVED_HISTORIES}`);
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  const histories = files.map((f) => ({ workflowId: f.replace(/\.history\.pb$/, ''), history: History.decode(readFileSync(join(SAVED_HISTORIES, f))) }));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
});
