import { Gauge, type Registry } from 'prom-client';
import type { FanOutWindowState } from '../../activities/fan-out-window.js';

export type BroadcastMetrics = ReturnType<typeof createBroadcastMetrics>;

/**
 * A broadcast fan-out's window, read when /metrics is scraped: how many journeys it may wait on and waits on, and
 * how often it halved (a broadcast meeting congestion: answers later than BROADCAST_TARGET_LATENCY_MS).
 */
export function createBroadcastMetrics(registry: Registry) {
  let read: (() => FanOutWindowState) | undefined;
  const gauge = (name: string, help: string, value: (s: FanOutWindowState) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (read) this.set(value(read()));
      },
    });
  gauge('lifecycle_broadcast_window_limit', 'Journeys a broadcast fan-out may wait on at once (the window).', (s) => s.limit);
  gauge('lifecycle_broadcast_window_in_flight', 'Journeys a broadcast fan-out waits on now.', (s) => s.inFlight);
  gauge('lifecycle_broadcast_window_cuts', 'Times the window halved since the worker started (answers later than the target latency, or none).', (s) => s.cuts);
  return {
    /** Report this window (one per worker). */
    watch(state: () => FanOutWindowState) {
      read = state;
    },
  };
}
