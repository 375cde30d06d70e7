import type { Compiler, Configuration } from 'webpack';

/**
 * The worker's default (WORKER_WORKFLOW_STACK_FRAMES): the SDK's promise hook and Node's take the first two
 * frames, so a stack keeps the place a promise was made; past the SDK's cut-off the Stack Trace tab shows what it
 * shows with V8's 10 (test/workflows/workflow-stacks.test.ts). Errors thrown in workflow code keep three frames.
 */
export const DEFAULT_WORKFLOW_STACK_FRAMES = 3;

/**
 * How many stack frames the journeys' V8 context captures (WORKER_WORKFLOW_STACK_FRAMES).
 *
 * The Temporal SDK records a stack for every promise a workflow creates (for the `__stack_trace` query, the
 * Temporal UI's Stack Trace tab) and maps each frame through the bundle's source map as it records it: in a
 * profile of a population that was about a fifth of the workflow thread (docs/benchmarks.md, Lean journeys).
 * The work goes by frames, and V8 takes the count from `Error.stackTraceLimit` of the context the stack is
 * made in. The SDK freezes the context's built-ins once the bundle has run, so the limit is set by a line at
 * the top of the bundle (a webpack banner), before that. Fewer frames keep where each promise of a journey
 * waits (its top frames) and drop the callers below; errors thrown in workflow code carry as many frames.
 * Nothing a journey decides depends on a stack, so the setting does not touch replay.
 */
export function workflowStackFramesHook(frames: number): (config: Configuration) => Configuration {
  if (!Number.isInteger(frames) || frames < 0) throw new Error(`workflow stack frames must be a whole number >= 0, got ${frames}`);
  const banner = {
    apply(compiler: Compiler) {
      new compiler.webpack.BannerPlugin({ banner: `Error.stackTraceLimit = ${frames};`, raw: true, entryOnly: true }).apply(compiler);
    },
  };
  return (config) => ({ ...config, plugins: [...(config.plugins ?? []), banner] });
}
