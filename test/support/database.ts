import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase, ensureIndexes, type Database } from '../../src/db/models.js';
import { startFerretDb } from '../../src/servers/local-servers.js';

export interface TestDatabase extends Database {
  uri: string;
  /** Stop the database and delete its files. */
  teardown(): Promise<void>;
}

/** A real MongoDB-compatible server (embedded FerretDB) in a fresh temporary folder, one per test file. */
export async function startTestDatabase(name = 'lifecycle_test'): Promise<TestDatabase & { stopServer(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lifecycle-ferretdb-'));
  const server = await startFerretDb({ dataDir });
  const uri = server.uri(name);
  const db = await connectDatabase(uri);
  await ensureIndexes(db.models);
  return {
    ...db,
    uri,
    stopServer: () => server.stop(),
    async teardown() {
      await db.close().catch(() => undefined);
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
