import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT, stopChild } from '../../src/servers/local-servers.js';
import { TEST_PAYLOAD_KEYS } from './codec.js';

export interface AppProcess {
  process: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Run one of our entry points (worker or API) as its own process, the way npm start does. */
export function runEntry(entry: 'src/worker/main.ts' | 'src/api/main.ts', env: Record<string, string>): AppProcess {
  let output = '';
  // CPU_PROF_DIR=<dir>: the worker writes a V8 CPU profile per thread there when it stops (node refuses --cpu-prof in NODE_OPTIONS).
  const profile = process.env.CPU_PROF_DIR && entry === 'src/worker/main.ts' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', join(PROJECT_ROOT, entry)], {
    cwd: PROJECT_ROOT,
    // No fixed worker metrics port (9464 by default): files running side by side would collide on it.
    // Payloads are encrypted with the test key unless the test brings its own (or PAYLOAD_ENCRYPTION=off).
    env: { ...process.env, LOG_LEVEL: 'warn', WORKER_METRICS_PORT: '0', ...(env.PAYLOAD_ENCRYPTION === 'off' ? {} : { PAYLOAD_KEYS: TEST_PAYLOAD_KEYS }), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return {
    process: child,
    output: () => output,
    stop: () => stopChild(child, 15_000),
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
