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

/**
 * What `run` asked of one model's collection, as `<method> <filter as JSON>` in order (mongoose's debug hook on the
 * model's connection, off again afterwards), and what `run` returned.
 */
export async function queriesTo<T>(
  model: { db: { set(key: 'debug', value: unknown): unknown }; collection: { collectionName: string } },
  run: () => Promise<T>,
): Promise<{ result: T; queries: string[] }> {
  const queries: string[] = [];
  model.db.set('debug', (collection: string, method: string, filter: unknown) => {
    if (collection === model.collection.collectionName) queries.push(`${method} ${JSON.stringify(filter)}`);
  });
  try {
    return { result: await run(), queries };
  } finally {
    model.db.set('debug', false);
  }
}
