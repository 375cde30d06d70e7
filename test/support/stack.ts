import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFerretDb, startTemporalDevServer, type RunningServer } from '../../src/servers/local-servers.js';
import { journeySearchAttributeKeys } from '../../src/temporal/search-attribute-keys.js';
import { coachingLive } from './definitions.js';
import { startSendgridServer, type SendgridServer } from './sendgrid-server.js';

/** The servers an end-to-end file runs our worker and API against, in a fresh temporary folder. */
export interface LocalServers {
  dataDir: string;
  temporal: RunningServer & { uiUrl: string };
  /** Replaceable: a test that stops FerretDB puts the restarted one here, so stop() stops that. */
  ferret: RunningServer & { uri: (db: string) => string };
  sendgrid: SendgridServer;
  stop(): Promise<void>;
}

export async function startLocalServers(prefix: string, sendgridKey: string): Promise<LocalServers> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  // Registered at start, as `npm start` has them before the worker comes up (the shipped definition's).
  const searchAttributes = journeySearchAttributeKeys((await coachingLive()).plan);
  const [temporal, ferret, sendgrid] = await Promise.all([
    startTemporalDevServer({ dbFile: join(dataDir, 'temporal.db'), searchAttributes }),
    startFerretDb({ dataDir: join(dataDir, 'ferretdb') }),
    startSendgridServer({ apiKey: sendgridKey }),
  ]);
  const servers: LocalServers = {
    dataDir,
    temporal,
    ferret,
    sendgrid,
    async stop() {
      await Promise.all([servers.temporal.stop(), servers.ferret.stop(), servers.sendgrid.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return servers;
}

/** Calls the API as a backend would: a key, a JSON body (or raw text, to send malformed JSON). */
export function apiCaller(base: () => string) {
  return async (method: string, path: string, opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: {
        ...opts.headers,
        ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
        ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.raw !== undefined ? { body: opts.raw } : opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}
