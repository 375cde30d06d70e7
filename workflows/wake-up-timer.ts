import { CancellationScope, isCancellation, sleep } from '@temporalio/workflow';

/**
 * A timer due within this long is left to fire (a harmless wake-up) rather than cancelled: it may already
 * have fired on the server while this task ran. The time-skipping test server refuses such a cancel outright
 * (temporalio/sdk-java#3088); the real one would record a no-op.
 */
const CANCEL_GUARD_MS = 5_000;

/** One durable timer at a time, for the journey's next wake-up; replaced only when that moment moves. */
export class WakeUpTimer {
  private timer: { at: number; scope: CancellationScope; fired: boolean } | undefined;

  /** Point the timer at the next wake-up (none: no timer); a moment already past needs none either. */
  arm(next: { at: number; summary: string } | undefined): void {
    if (this.timer && (!next || next.at !== this.timer.at)) {
      if (this.timer.at - Date.now() > CANCEL_GUARD_MS) this.timer.scope.cancel();
      this.timer = undefined;
    }
    if (!next || this.timer || next.at <= Date.now()) return;
    const armed = { at: next.at, scope: new CancellationScope(), fired: false };
    this.timer = armed;
    armed.scope
      .run(() => sleep(next.at - Date.now(), { summary: next.summary }))
      .then(
        () => {
          armed.fired = true;
        },
        (err) => {
          if (!isCancellation(err)) throw err;
        },
      );
  }

  get fired(): boolean {
    return this.timer?.fired === true;
  }

  /** Forget the timer once it fired (the next arm() sets a new one). */
  clearFired(): void {
    if (this.timer?.fired) this.timer = undefined;
  }
}
