import type { Worker } from '@temporalio/worker';

/** The Temporal workers of one process: one per task queue it polls, run and stopped together. */
export class JourneyWorkers {
  constructor(readonly workers: readonly Worker[]) {}

  async run(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.run()));
  }

  /** Run every worker until `fn` settles, then stop them. */
  runUntil<T>(fn: () => Promise<T>): Promise<T> {
    return this.workers.reduceRight<() => Promise<T>>((inner, worker) => () => worker.runUntil(inner), fn)();
  }

  shutdown(): void {
    for (const worker of this.workers) worker.shutdown();
  }
}
