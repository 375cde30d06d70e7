/**
 * Definitions managed, not files: stored versions with their publications, the live pointer the journey's
 * plan is read from (no restart), and /v1/definitions with its gate, against the real MongoDB-compatible
 * server (embedded FerretDB) and, for the side-by-side simulation, the time-skipping test server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createJourneyActivities } from '../../activities/journey-activities.js';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { runPublishGate } from '../../src/definition-store/publish-gate.js';
import { readDefaultBehaviourModel } from '../../src/sim/behaviour-model.js';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';
import { coachingLive } from '../support/definitions.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';

const KEY = 'definitions-test-writer-key';
const READER = 'definitions-test-reader-key';

describe('journey definition versions', () => {
  let db: TestDatabase;
  let server: Server;
  let base: string;
  let store: DefinitionStore;
  let raw: JourneyDefinitionInput;

  before(async () => {
    db = await startTestDatabase('lifecycle_definitions');
    const seed = await coachingLive();
    raw = seed.raw as JourneyDefinitionInput;
    store = new DefinitionStore(db.models, seed);
    const customers = {} as CustomerService;
    const app = createApp({
      customers,
      apiKeys: new Map([
        [KEY, new Set(['definitions:read', 'definitions:write'] as const)],
        [READER, new Set(['definitions:read'] as const)],
      ]),
      logger: pino({ level: 'silent' }),
      temporalUiUrl: 'http://localhost:8233',
      namespace: 'default',
      definitions: { store, models: db.models, defaultModel: await readDefaultBehaviourModel() },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await db?.teardown();
  });

  const call = async (method: string, path: string, body?: unknown, key = KEY) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read by shape in the assertions
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  test('DEFINITION_FILE seeds the first live version once; a restart with the same file changes nothing', async () => {
    const first = await store.publish();
    assert.deepEqual(first, { live: store.current.version, seeded: true });
    assert.deepEqual(await new DefinitionStore(db.models, store.current).publish(), { live: store.current.version, seeded: false });
    const list = await call('GET', '/v1/definitions', undefined, READER);
    assert.equal(list.status, 200);
    assert.equal(list.body.live, store.current.version);
    assert.equal(list.body.versions[0].publications[0].by, 'DEFINITION_FILE');
    assert.equal(list.body.versions[0].publications[0].from, null);
  });

  test('workers starting together store a new version once, none of them fails', async () => {
    const fresh = parseDefinition({ ...raw, name: 'Started together' });
    const stores = Array.from({ length: 4 }, () => new DefinitionStore(db.models, fresh));
    await Promise.all(stores.map((s) => s.save(fresh)));
    assert.equal(await db.models.Definition.countDocuments({ _id: `${fresh.definition.id}@${fresh.version}` }), 1);
    await db.models.Definition.deleteOne({ _id: `${fresh.definition.id}@${fresh.version}` }); // the tests below list the versions
  });

  test('check lists every violation', async () => {
    const broken = { ...raw, initialStage: 'nowhere', transitions: [...(raw.transitions ?? []), { from: ['ghost'], on: { event: 'X' }, to: 'limbo' }] };
    const res = await call('POST', '/v1/definitions/check', { definition: broken }, READER);
    assert.equal(res.status, 200);
    assert.equal(res.body.valid, false);
    const paths = res.body.violations.map((v: { path: string }) => v.path).join(' ');
    assert.ok(res.body.violations.length >= 3, JSON.stringify(res.body.violations));
    assert.match(paths, /initialStage/);
    assert.match(paths, /transitions/);
    const fine = await call('POST', '/v1/definitions/check', { definition: raw }, READER);
    assert.deepEqual([fine.body.valid, fine.body.version], [true, store.current.version]);
  });

  test('publishing needs definitions:write', async () => {
    const res = await call('POST', '/v1/definitions/publish', { definition: raw, note: 'x' }, READER);
    assert.equal(res.status, 403);
  });

  test('a stage live journeys stand in cannot be removed; the refusal says why and how many', async () => {
    const now = new Date();
    await db.models.JourneyRecord.insertMany(
      ['a', 'b', 'c'].map((id, i) => ({ _id: `user-${id}`, seq: 1, definitionVersion: store.current.version, stage: i < 2 ? 'lapsed' : 'trial', stageEnteredAt: now, startedAt: now })),
    );
    const narrowed: JourneyDefinitionInput = { ...raw, attributes: (raw.attributes ?? []).map((a) => (a.id === 'plan' ? { ...a, values: ['full'] } : a)) };
    const res = await call('POST', '/v1/definitions/publish', { definition: narrowed, note: 'full plan only' });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, 'refused');
    assert.match(res.body.error.issues[0].message, /attribute plan no longer allows light.*\(3 live journeys\)/);

    // A stage removed: refused while customers stand in it, with how many; allowed once nobody does.
    const small = (stages: string[]) =>
      parseDefinition({
        id: raw.id,
        name: 'small',
        initialStage: 'trial',
        stages: stages.map((id) => ({ id })),
        transitions: stages.filter((s) => s !== 'trial').map((to) => ({ from: ['trial'], on: { event: `To ${to}` }, to })),
      });
    const gate = await runPublishGate({ models: db.models, live: small(['trial', 'lapsed', 'churned']), candidate: small(['trial', 'churned']) });
    assert.deepEqual(gate.refusals, ['stage lapsed is removed and no stage takes its journeys: the customers standing in it could not move to this version (2 live journeys)']);
    assert.equal(gate.confirmToken, null);
    const empty = await runPublishGate({ models: db.models, live: small(['trial', 'loyal', 'churned']), candidate: small(['trial', 'churned']) });
    assert.deepEqual([empty.refusals, empty.changes.find((c) => c.id === 'loyal')?.journeys], [[], 0]);
    assert.equal((await store.liveVersion(raw.id)), store.current.version, 'nothing changed');
  });

  test('publish previews the KPIs side by side, commits with the token, and the journey plan follows without a restart', async () => {
    const activities = createJourneyActivities({ models: db.models, definitions: store, mailer: createOutboxMailer(db.models), emailFrom: 'x@example.com', logger: pino({ level: 'silent' }) });
    const candidate: JourneyDefinitionInput = { ...raw, campaigns: (raw.campaigns ?? []).filter((c) => c.id !== 'trial_ending_7d') };
    const version = parseDefinition(candidate).version;
    const preview = await call('POST', '/v1/definitions/publish', { definition: candidate, note: 'one reminder is enough', simulation: { customers: 12, days: 40, seed: 3 } });
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.equal(preview.body.status, 'preview');
    assert.equal(preview.body.candidate, version);
    const removed = preview.body.changes.find((c: { id: string }) => c.id === 'trial_ending_7d');
    assert.deepEqual([removed.change, removed.stages, removed.journeys], ['removed', ['trial', 'lapsed'], 3]);
    assert.equal(preview.body.simulation.customers, 12);
    const sent = preview.body.simulation.comparison.filter((r: { metric: string }) => r.metric.startsWith('trial_ending_7d/') && r.metric.endsWith(' sent'));
    assert.ok(sent.length > 0 && sent.every((r: { b: number | null }) => r.b === null), 'the removed campaign sends nothing in the candidate');
    assert.equal(await store.liveVersion(raw.id), store.current.version, 'a preview changes nothing');

    const wrong = await call('POST', '/v1/definitions/publish', { definition: candidate, note: 'x', confirm: '0123456789abcdef' });
    assert.equal(wrong.status, 409);
    const done = await call('POST', '/v1/definitions/publish', { definition: candidate, note: 'one reminder is enough', confirm: preview.body.confirmToken });
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.equal(done.body.publication.from, store.current.version);
    assert.equal(done.body.publication.note, 'one reminder is enough');
    // The journey's plan (the workflow's local activity) is the new version at once: no restart.
    const plan = await activities.loadJourneyPlan({ id: raw.id });
    assert.equal(plan.version, version);
    assert.ok(!plan.campaigns.some((c) => c.id === 'trial_ending_7d'));
    // A pinned version still loads as it was (running journeys keep theirs until continue-as-new).
    assert.equal((await activities.loadJourneyPlan({ id: raw.id, version: store.current.version })).version, store.current.version);
    // The same token cannot commit twice: it was bound to the live version before.
    const again = await call('POST', '/v1/definitions/publish', { definition: candidate, note: 'x', confirm: preview.body.confirmToken });
    assert.equal(again.body.status, 'unchanged');

    const back = await call('POST', '/v1/definitions/rollback', { version: store.current.version, note: 'back', confirm: '0123456789abcdef' });
    assert.equal(back.status, 409);
    const previewBack = await call('POST', '/v1/definitions/rollback', { version: store.current.version, note: 'back', simulation: { customers: 2, days: 5 } });
    assert.equal(previewBack.status, 200, JSON.stringify(previewBack.body));
    const rolled = await call('POST', '/v1/definitions/rollback', { version: store.current.version, note: 'back', confirm: previewBack.body.confirmToken });
    assert.equal(rolled.status, 201);
    assert.equal(rolled.body.publication.kind, 'rollback');
    assert.equal((await activities.loadJourneyPlan({ id: raw.id })).version, store.current.version);

    const shown = await call('GET', `/v1/definitions/versions/${version}`, undefined, READER);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.live, false);
    assert.equal(shown.body.publications[0].note, 'one reminder is enough');
    assert.equal((await call('GET', '/v1/definitions/versions/000000000000', undefined, READER)).status, 404);
    const list = await call('GET', '/v1/definitions', undefined, READER);
    assert.deepEqual(
      list.body.versions.map((v: { version: string; live: boolean; publications: unknown[] }) => [v.version, v.live, v.publications.length]),
      [
        [store.current.version, true, 2],
        [version, false, 1],
      ],
    );
  });

  test('two publishes from the same live version: the second is refused, not silently applied', async () => {
    const a = parseDefinition({ ...raw, name: 'A' });
    const live = await store.liveVersion(raw.id);
    await store.makeLive({ loaded: a, kind: 'publish', by: 'k1', note: 'a', expectedFrom: live });
    await assert.rejects(store.makeLive({ loaded: parseDefinition({ ...raw, name: 'B' }), kind: 'publish', by: 'k2', note: 'b', expectedFrom: live }), /moved/);
    assert.equal(await store.liveVersion(raw.id), a.version);
  });

  test('the CLI: list --json, check, publish needs --yes away from a terminal, rollback of an unknown version fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifecycle-cli-'));
    const file = join(dir, 'candidate.yaml');
    const candidate = parseDefinition({ ...raw, name: 'Published from the CLI' });
    writeFileSync(file, YAML.stringify(raw).replace(/^name: .*$/m, 'name: Published from the CLI'));
    // Asynchronously: the API answering it runs in this process.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/support-cli.ts', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, LIFECYCLE_API_URL: base, LIFECYCLE_API_KEY: KEY } }, (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin?.end();
      });
    const list = await cli('--json', 'definitions', 'list');
    assert.equal(list.status, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as { live: string }).live, await store.liveVersion(raw.id));
    const checked = await cli('definitions', 'check', file);
    assert.equal(checked.status, 0, checked.stderr);
    assert.match(checked.stdout, new RegExp(`valid, version ${candidate.version}`));

    const before = await store.liveVersion(raw.id);
    const unconfirmed = await cli('definitions', 'publish', file, '--note', 'rename', '--customers', '2', '--days', '3');
    assert.equal(unconfirmed.status, 1);
    assert.match(unconfirmed.stdout, /settings|Changes/);
    assert.match(unconfirmed.stderr, /not published: run again with --yes/);
    assert.equal(await store.liveVersion(raw.id), before);
    const published = await cli('definitions', 'publish', file, '--note', 'rename', '--customers', '2', '--days', '3', '--yes');
    assert.equal(published.status, 0, published.stderr);
    assert.match(published.stdout, new RegExp(`Published ${candidate.version}`));
    assert.equal(await store.liveVersion(raw.id), candidate.version);

    const unknown = await cli('definitions', 'rollback', '000000000000', '--note', 'x', '--yes');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /404: no stored version 000000000000/);
    rmSync(dir, { recursive: true, force: true });
  });
});
