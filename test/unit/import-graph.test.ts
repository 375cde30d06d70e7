import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { importCycles, importGraph, type ImportEdge } from '../support/import-graph.js';

/**
 * The arrows between the rooms (docs/architecture.md) point one way: what a room may use is checked here
 * on every import of the production code, so an arrow back up or an import circle fails the unit layer.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const edges = importGraph(ROOT, ['src', 'activities', 'workflows']);
const within = (prefix: string) => (path: string) => path === prefix || path.startsWith(`${prefix}/`);
const describeEdge = (e: ImportEdge) => `${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`;

function forbidden(from: (p: string) => boolean, to: (p: string) => boolean, opts: { values?: boolean } = {}): string[] {
  return edges.filter((e) => from(e.from) && to(e.to) && !(opts.values && e.typeOnly)).map(describeEdge);
}

test('the walk sees the code: hundreds of imports, among them the API using the core', () => {
  assert.ok(edges.length > 200, `${edges.length} imports`);
  assert.ok(edges.some((e) => e.from.startsWith('src/api/') && e.to.startsWith('src/core/')));
});

test('no import circle, not even of types alone (a shared type goes to a file both import)', () => {
  assert.deepEqual(importCycles(edges), []);
});

test('the core imports nothing outside itself', () => {
  assert.deepEqual(forbidden(within('src/core'), (p) => !within('src/core')(p)), []);
});

test('the API and the dashboard do not import each other both ways: the API mounts the dashboard, the dashboard uses only the shared HTTP edge', () => {
  assert.deepEqual(forbidden(within('src/dashboard'), within('src/api')), []);
});

test('the KPIs use no room above them (the API, the dashboard, the worker)', () => {
  assert.deepEqual(forbidden(within('src/kpis'), (p) => ['src/api', 'src/dashboard', 'src/worker'].some((r) => within(r)(p))), []);
});

test('activities take no value from workflow code, and workflow code only types from activities', () => {
  assert.deepEqual(forbidden(within('activities'), within('workflows'), { values: true }), []);
  assert.deepEqual(forbidden(within('workflows'), within('activities'), { values: true }), []);
});

test('nothing below the API imports it: the worker, activities, channels and stores stand without the HTTP routes', () => {
  const below = ['activities', 'src/worker', 'src/channels', 'src/delivery', 'src/preferences', 'src/db', 'src/segments', 'src/timing', 'src/ingest', 'src/definition-store', 'src/temporal', 'src/kpis', 'src/config', 'src/http'];
  assert.deepEqual(forbidden((p) => below.some((r) => within(r)(p)), within('src/api')), []);
});

test('nothing the worker or the API runs imports the development launcher (src/servers)', () => {
  const production = ['src/api', 'src/worker', 'src/dashboard', 'src/kpis', 'src/db', 'src/delivery', 'src/temporal', 'src/config', 'src/http', 'activities', 'workflows'];
  assert.deepEqual(forbidden((p) => production.some((r) => within(r)(p)), within('src/servers')), []);
});
