import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint } from 'eslint';

/**
 * The lint fences README and docs/architecture.md promise, checked by linting files that break them: a
 * fence that is only configured can be quietly undone (a later `no-restricted-imports` block replaced the
 * core's own rules once, and nothing noticed).
 */
const eslint = new ESLint({ cwd: fileURLToPath(new URL('../..', import.meta.url)) });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('the core refuses relative imports into the shell, values and types alike', async () => {
  const refused = await restrictedImports(
    'src/core/fence-probe.ts',
    [
      "import { connectDatabase } from '../db/models.js';",
      "import type { ApiError } from '../api/errors.js';",
      "import { customerJourney } from '../../workflows/customer-journey.js';",
      'export const probe: unknown[] = [connectDatabase, customerJourney, null as unknown as ApiError];',
    ].join('\n'),
  );
  assert.equal(refused.length, 3, refused.join('\n'));
  assert.ok(refused.every((m) => /the core imports nothing from the shell/.test(m)), refused.join('\n'));
});

test('the core still refuses Node built-ins, the database and Temporal (the workflow fence is not lost)', async () => {
  const refused = await restrictedImports(
    'src/core/fence-probe.ts',
    [
      "import { readFileSync } from 'node:fs';",
      "import mongoose from 'mongoose';",
      "import { sleep } from '@temporalio/workflow';",
      'export const probe: unknown[] = [readFileSync, mongoose, sleep];',
    ].join('\n'),
  );
  assert.equal(refused.length, 3, refused.join('\n'));
});

test('imports inside the core pass the fence', async () => {
  assert.deepEqual(await restrictedImports('src/core/fence-probe.ts', "import { parseDuration } from './duration.js';\nexport const probe = parseDuration;\n"), []);
});

test('workflow code refuses the database and value imports of activities', async () => {
  const refused = await restrictedImports(
    'workflows/fence-probe.ts',
    [
      "import mongoose from 'mongoose';",
      "import { createJourneyActivities } from '../activities/journey-activities.js';",
      "import type { JourneyActivities } from '../activities/journey-activities.js';",
      'export const probe: unknown[] = [mongoose, createJourneyActivities, null as unknown as JourneyActivities];',
    ].join('\n'),
  );
  assert.equal(refused.length, 2, refused.join('\n'));
});
