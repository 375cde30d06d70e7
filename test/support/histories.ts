import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import proto from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';

export const SAVED_HISTORIES = join(PROJECT_ROOT, 'test/replay/histories');
export const History = proto.temporal.api.history.v1.History;

/**
 * Keep the history of a test scenario (protobuf binary, as the server holds it): always under
 * test-results/ (a CI artefact), and under test/replay/histories/ when SAVE_HISTORIES=1, where it becomes
 * a replay test guarding later changes to workflow code.
 */
export async function saveHistory(handle: WorkflowHandle, name: string): Promise<void> {
  const bytes = History.encode(await handle.fetchHistory()).finish();
  const dirs = [join(PROJECT_ROOT, 'test-results/histories'), ...(process.env.SAVE_HISTORIES === '1' ? [SAVED_HISTORIES] : [])];
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.history.pb`), bytes);
  }
}
