import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';
import { startFuzzStack, type FuzzStack } from './fuzz-stack.js';

/**
 * Schemathesis (PyPI, installed into .local/venv by scripts/install-servers.sh) generates requests from
 * the live /openapi.json, valid and invalid, and checks every answer against the document: no 5xx, only
 * documented statuses, content types, headers and bodies, invalid input refused, a key required where the
 * document says so, 405 with Allow for an undocumented method. The short run fits CI; FUZZ_LONG=1 (npm run
 * test:fuzz) runs ten times the examples and the stateful phase (sequences linked through the answers).
 */
const ST = join(PROJECT_ROOT, '.local/venv/bin/st');
const LONG = process.env.FUZZ_LONG === '1';
const MAX_EXAMPLES = process.env.SCHEMATHESIS_MAX_EXAMPLES ?? (LONG ? '300' : '30');
const SEED = process.env.SCHEMATHESIS_SEED ?? '20261126';
const PHASES = process.env.SCHEMATHESIS_PHASES ?? (LONG ? 'examples,coverage,fuzzing,stateful' : 'examples,coverage,fuzzing');
const REPORT_DIR = join(PROJECT_ROOT, 'test-artifacts', 'schemathesis');

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('schemathesis: the API against its own OpenAPI document', () => {
  let stack: FuzzStack;
  let workDir: string;

  before(async () => {
    assert.ok(existsSync(ST), `schemathesis is not installed at ${ST}: run \`npm install\` (scripts/install-servers.sh installs it)`);
    workDir = mkdtempSync(join(tmpdir(), 'lifecycle-schemathesis-'));
    stack = await startFuzzStack('schemathesis', { worker: true });
  });

  after(async () => {
    await stack?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  // The long run outlasts scripts/test.sh's 10-minute default per test.
  test(`every operation, ${MAX_EXAMPLES} examples each, seed ${SEED}: no failure`, { ...(LONG ? { timeout: 6 * 3_600_000 } : {}) }, async (t) => {
    mkdirSync(REPORT_DIR, { recursive: true });
    const started = Date.now();
    const { code, output } = await run(
      ST,
      [
        '--config-file',
        join(PROJECT_ROOT, 'test/fuzz/schemathesis.toml'),
        'run',
        `${stack.base}/openapi.json`,
        '--header',
        `Authorization: Bearer ${stack.key}`,
        // Every check but positive_data_acceptance: the document cannot say some rules (byte size and depth
        // of properties and traits, IANA zones, nested arrays), so valid-looking data may rightly be refused.
        '--checks',
        'all',
        '--exclude-checks',
        'positive_data_acceptance',
        '--phases',
        PHASES,
        '--max-examples',
        MAX_EXAMPLES,
        '--seed',
        SEED,
        '--generation-database',
        'none',
        '--request-timeout',
        '30',
        '--workers',
        '1',
        '--no-color',
        '--report',
        'junit',
        '--report-dir',
        REPORT_DIR,
      ],
      workDir,
    );
    const seconds = Math.round((Date.now() - started) / 1000);
    const cases = /(\d+) generated[^\n]*/.exec(output)?.[0] ?? '(no count)';
    t.diagnostic(`schemathesis: ${cases}; ${seconds} s; phases ${PHASES}; seed ${SEED}`);
    assert.equal(code, 0, `schemathesis reported failures (seed ${SEED}):\n${output.slice(-20_000)}`);
    assert.doesNotMatch(stack.api.output(), /"level":50/, `the API logged an error:\n${stack.api.output().slice(-5_000)}`);
  });
});
