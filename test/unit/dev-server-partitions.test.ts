import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { devServerPartitions } from '../../src/servers/local-servers.js';

const dir = () => mkdtempSync(join(tmpdir(), 'partitions-'));

describe('task-queue partitions of the dev server', () => {
  test('a store kept in memory, or created now, has one, and the count is kept beside a new store', () => {
    assert.equal(devServerPartitions(undefined), 1);
    const dbFile = join(dir(), 'data', 'temporal.db');
    assert.equal(devServerPartitions(dbFile), 1);
    assert.equal(readFileSync(`${dbFile}.partitions`, 'utf8'), '1\n');
    // The server created the store since: it keeps what it was created with.
    writeFileSync(dbFile, 'SQLite format 3');
    assert.equal(devServerPartitions(dbFile), 1);
  });

  test('a store written before the count was kept had Temporal default 4, and keeps them: tasks in partitions 1-3 would be read by nobody', () => {
    const dbFile = join(dir(), 'temporal.db');
    writeFileSync(dbFile, 'SQLite format 3');
    assert.equal(devServerPartitions(dbFile), 4);
    assert.equal(readFileSync(`${dbFile}.partitions`, 'utf8'), '4\n');
    assert.equal(devServerPartitions(dbFile), 4);
  });

  test('the count moved to one by hand (after the backlog drained) is taken; a count that is no whole number is refused', () => {
    const dbFile = join(dir(), 'temporal.db');
    writeFileSync(dbFile, 'SQLite format 3');
    writeFileSync(`${dbFile}.partitions`, '1\n');
    assert.equal(devServerPartitions(dbFile), 1);
    writeFileSync(`${dbFile}.partitions`, 'four');
    assert.throws(() => devServerPartitions(dbFile), /temporal\.db\.partitions should hold a whole number of task-queue partitions, not "four"/);
    assert.ok(existsSync(dbFile));
  });
});
