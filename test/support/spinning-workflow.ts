/**
 * Workflow code that deadlocks when asked to (bundled by test/workflows/workflow-thread.test.ts): what the
 * deadlock watchdog is for.
 */
export async function spinner(spin: boolean): Promise<string> {
  while (spin) {
    // Never yields: the watchdog has to end the workflow task.
  }
  return 'done';
}
