import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../src/codec/data-converter.js';
import { WORKFLOWS_PATH } from '../src/worker/create-worker.js';
import { silentLogger } from '../src/worker/silent-logger.js';
import { DEFAULT_WORKFLOW_STACK_FRAMES, workflowStackFramesHook } from '../src/worker/workflow-stacks.js';
import { DEFAULT_WORKFLOW_THREAD, SDK_WORKFLOW_THREAD, type WorkflowThreadSettings } from '../src/worker/workflow-thread.js';
import { SAVED_HISTORIES } from '../test/support/histories.js';
import type { ReplayChildInput, ReplayChildResult } from './replay-child.js';
import { PROJECT_ROOT } from '../src/servers/local-servers.js';
import { median, ratio, say, writeResult } from './support.js';

/** What a run compares: the worker's workflow thread with one change against without it (or against the SDK's thread). */
export const REPLAY_COMPARISONS = {
  'promise-hook': {
    what: 'promise hook cached / sdk',
    baseline: { ...DEFAULT_WORKFLOW_THREAD, promiseHook: 'sdk' },
    candidate: DEFAULT_WORKFLOW_THREAD,
  },
  watchdog: {
    what: 'watchdog thread / per-call',
    baseline: { ...DEFAULT_WORKFLOW_THREAD, watchdog: 'per-call' },
    candidate: DEFAULT_WORKFLOW_THREAD,
  },
  sdk: {
    what: "this worker's thread / the SDK's",
    baseline: SDK_WORKFLOW_THREAD,
    candidate: DEFAULT_WORKFLOW_THREAD,
  },
} as const satisfies Record<string, { what: string; baseline: WorkflowThreadSettings; candidate: WorkflowThreadSettings }>;
export type ReplayComparison = keyof typeof REPLAY_COMPARISONS;

export interface ReplayOptions {
  compare: ReplayComparison;
  /** Replays of the chosen histories per round and setting. */
  replays: number;
  /** Rounds, each running both settings one after the other (alternating which goes first). */
  rounds: number;
  /** Saved histories (file names under test/replay/histories without .history.pb). */
  histories?: string[] | undefined;
}

/** A sign-up and a trial start: what a broadcast wakes in most journeys of a population (bench broadcast's). */
const DEFAULT_HISTORIES = ['lean-sign-up'];
const run = promisify(execFile);

/**
 * A journey woken out of the worker's cache (as a broadcast wakes most of them) is replayed from its history:
 * the CPU per replay with one setting of the worker's workflow thread against another (WORKER_WATCHDOG,
 * WORKER_PROMISE_HOOK; src/worker/workflow-thread.ts), on the saved journey histories. Each round runs each
 * setting in a fresh process (bench/replay-child.ts: the promise hook's setting is made as the SDK loads), the
 * order alternating round by round; the medians are compared.
 */
export async function replay(opts: ReplayOptions): Promise<void> {
  const comparison = REPLAY_COMPARISONS[opts.compare];
  const saved = readdirSync(SAVED_HISTORIES).filter((f) => f.endsWith('.history.pb')).map((f) => f.replace(/\.history\.pb$/, ''));
  const names = opts.histories ?? DEFAULT_HISTORIES;
  const unknown = names.filter((n) => !saved.includes(n));
  if (unknown.length > 0) throw new Error(`no saved history ${unknown.join(', ')} (saved: ${saved.join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-replay-'));
  try {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, webpackConfigHook: workflowStackFramesHook(DEFAULT_WORKFLOW_STACK_FRAMES), logger: silentLogger });
    const bundleFile = join(dir, 'bundle.json');
    writeFileSync(bundleFile, JSON.stringify({ code: bundle.code, sourceMap: bundle.sourceMap }));
    say(`replay: ${comparison.what}; saved histories ${names.join(', ')}; ${opts.replays} replays per round and setting, ${opts.rounds} rounds, each setting in a process of its own`);
    const child = async (settings: WorkflowThreadSettings): Promise<ReplayChildResult> => {
      const input: ReplayChildInput = { settings, bundleFile, histories: names, warmUp: Math.min(50, opts.replays), replays: opts.replays };
      const { stdout } = await run(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bench/replay-child.ts'), JSON.stringify(input)], { cwd: PROJECT_ROOT, maxBuffer: 16 * 1024 * 1024 });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as ReplayChildResult;
    };
    const sides = ['baseline', 'candidate'] as const;
    const results: Record<(typeof sides)[number], ReplayChildResult[]> = { baseline: [], candidate: [] };
    for (let round = 0; round < opts.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const settings = comparison[side];
        const result = await child(settings);
        results[side].push(result);
        say(`  round ${round + 1}, ${side} (watchdog ${settings.watchdog}, promise hook ${settings.promiseHook}): ${result.cpuMsPerReplay.toFixed(2)} ms of CPU per replay`);
      }
    }
    const baseline = median(results.baseline.map((r) => r.cpuMsPerReplay));
    const candidate = median(results.candidate.map((r) => r.cpuMsPerReplay));
    say(`replay CPU per journey: baseline ${baseline.toFixed(2)} ms, candidate ${candidate.toFixed(2)} ms (medians of ${opts.rounds} rounds)`);
    say(`replay CPU per journey, ${comparison.what}: ${ratio(candidate, baseline).toFixed(2)}x`);
    say(`  result: ${writeResult('replay', { compare: opts.compare, settings: { baseline: comparison.baseline, candidate: comparison.candidate }, histories: names, replays: opts.replays, rounds: opts.rounds, results, medianMs: { baseline, candidate }, ratio: ratio(candidate, baseline) })}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
