import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEV_SERVER_DYNAMIC_CONFIG, DEV_SERVER_SQLITE_PRAGMAS, envList } from '../../src/servers/local-servers.js';

describe('dev server settings from the environment', () => {
  test('unset keeps the default; empty means none; values are trimmed and empty items dropped', () => {
    assert.deepEqual(envList('TEMPORAL_SQLITE_PRAGMAS', ',', DEV_SERVER_SQLITE_PRAGMAS, {}), ['journal_mode=wal', 'synchronous=normal']);
    assert.deepEqual(envList('TEMPORAL_SQLITE_PRAGMAS', ',', DEV_SERVER_SQLITE_PRAGMAS, { TEMPORAL_SQLITE_PRAGMAS: '' }), []);
    assert.deepEqual(envList('TEMPORAL_SQLITE_PRAGMAS', ',', DEV_SERVER_SQLITE_PRAGMAS, { TEMPORAL_SQLITE_PRAGMAS: ' busy_timeout=5000 ,, journal_mode=wal' }), ['busy_timeout=5000', 'journal_mode=wal']);
  });

  test('dynamic config splits on semicolons, so JSON values may hold commas', () => {
    assert.deepEqual(envList('TEMPORAL_DYNAMIC_CONFIG', ';', DEV_SERVER_DYNAMIC_CONFIG, {}), []);
    assert.deepEqual(
      envList('TEMPORAL_DYNAMIC_CONFIG', ';', DEV_SERVER_DYNAMIC_CONFIG, { TEMPORAL_DYNAMIC_CONFIG: 'system.enableActivityEagerExecution=true; limit.maxIDLength=[{"value":300,"constraints":{}}]' }),
      ['system.enableActivityEagerExecution=true', 'limit.maxIDLength=[{"value":300,"constraints":{}}]'],
    );
  });
});
