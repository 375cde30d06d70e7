/**
 * How many journeys a broadcast's fan-out keeps waiting on at once. Each journey answers once it has taken the
 * broadcast in (a workflow task of its own), so the journeys woken but not yet handled are never more than the
 * window, and the window follows what the workers work off: it grows by one every round whose answers come within
 * the target latency and halves when one comes later (additive increase, multiplicative decrease, as TCP paces a
 * sender by its acknowledgements). A queue the fan-out cannot see (a worker's sticky queue, its slots, its CPU)
 * shows as latency, so a new customer's welcome never waits behind thousands of woken journeys, and a broadcast
 * still runs as fast as the stack takes it.
 *
 * One window per worker, shared by every broadcast it fans out.
 */
export interface FanOutWindowOptions {
  /** The most journeys waited on at once. */
  max: number;
  /** An answer later than this is congestion: the window halves. */
  targetMs: number;
  /** Where the window starts (default 4, at most max). */
  initial?: number;
}

/** The window a worker uses unless configured (BROADCAST_MAX_IN_FLIGHT, BROADCAST_TARGET_LATENCY_MS). */
export const DEFAULT_FAN_OUT_WINDOW = { max: 32, targetMs: 125 } as const satisfies FanOutWindowOptions;

/** What the window is at now, for logs and metrics. */
export interface FanOutWindowState {
  limit: number;
  inFlight: number;
  /** Times the window halved since it was made. */
  cuts: number;
}

export class FanOutWindow {
  private size: number;
  /** Timely answers since the window last grew: one round of them (as many as the window) grows it by one. */
  private timely = 0;
  private busy = 0;
  /** How often the window was cut: answers to journeys reached before the last cut do not cut it again (one congested round halves it once). */
  private cuts = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly options: FanOutWindowOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.size = Math.max(1, Math.min(options.initial ?? 4, options.max));
  }

  /** Journeys it may wait on at once now. */
  get limit(): number {
    return this.size;
  }

  /** Journeys it waits on now. */
  get inFlight(): number {
    return this.busy;
  }

  get state(): FanOutWindowState {
    return { limit: this.size, inFlight: this.busy, cuts: this.cuts };
  }

  /** Waits for room in the window and takes a place; call what it returns when the journey answered (or did not). */
  async enter(): Promise<(answered: boolean) => void> {
    while (this.busy >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy += 1;
    const sentAt = this.now();
    const cutsBefore = this.cuts;
    let left = false;
    return (answered) => {
      if (left) return;
      left = true;
      this.busy -= 1;
      this.settle(sentAt, cutsBefore, answered);
      this.waiting.splice(0).forEach((wake) => wake());
    };
  }

  private settle(sentAt: number, cutsBefore: number, answered: boolean): void {
    const latency = this.now() - sentAt;
    if (!answered || latency > this.options.targetMs) {
      if (cutsBefore === this.cuts) {
        this.size = Math.max(1, Math.floor(this.size / 2));
        this.timely = 0;
        this.cuts += 1;
      }
      return;
    }
    this.timely += 1;
    if (this.timely < this.size) return;
    this.timely = 0;
    this.size = Math.min(this.options.max, this.size + 1);
  }
}
