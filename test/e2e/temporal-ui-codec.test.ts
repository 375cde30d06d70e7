/**
 * The Temporal Web UI reads at first look: `npm start` (src/cli/start.ts, as a process, on free ports and a
 * data folder of its own) serves the UI with our codec on one origin, so a marketer signed in to the
 * dashboard opens a journey in the UI and reads it decoded, without a banner, a second sign-in or a setting
 * to tick; the payloads stay encrypted in Temporal, and the codec refuses a caller who is not signed in.
 * In headless Chromium; the screenshot lands in test-artifacts/temporal-ui-decoded.png.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { freePort, PROJECT_ROOT, stopChild } from '../../src/servers/local-servers.js';
import { waitFor } from '../support/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(PROJECT_ROOT, 'test-artifacts', 'temporal-ui-decoded.png');

describe('npm start: the Temporal Web UI shows journeys decoded', () => {
  let dir: string;
  let stack: ChildProcess;
  let output = '';
  let api: string;
  let ui: string;
  let key: string;
  let browser: Browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifecycle-start-'));
    const [apiPort, temporalPort, uiPort, ferretPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    api = `http://localhost:${apiPort}`;
    ui = `http://localhost:${uiPort}`;
    stack = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/start.ts')], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        LIFECYCLE_DATA_DIR: dir,
        API_PORT: String(apiPort),
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        FERRETDB_PORT: String(ferretPort),
        WORKER_METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stack.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    stack.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor('npm start to say it is running', async () => output.includes('Lifecycle orchestrator is running'), 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${output.slice(-5_000)}`);
    });
    key = readFileSync(join(dir, 'dev-api-key'), 'utf8').trim();
    const call = (path: string, body: unknown) =>
      fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await call('/v1/identify', { userId: 'ada', traits: { email: 'ada@example.com', firstName: 'Ada', timezone: 'Europe/Berlin' } })).status, 200);
    assert.equal((await call('/v1/track', { userId: 'ada', event: 'Signed Up', messageId: 'ada-1' })).status, 202);
    assert.equal((await call('/v1/track', { userId: 'ada', event: 'Trial Started', messageId: 'ada-2' })).status, 202);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  });

  after(async () => {
    await browser?.close();
    if (stack) await stopChild(stack, 30_000);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the codec on the UI origin refuses a caller who did not sign in, and one who did not send the key', async () => {
    const res = await fetch(`${ui}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', origin: ui }, body: '{"payloads":[]}' });
    assert.equal(res.status, 401);
    const stranger = await fetch(`${ui}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{"payloads":[]}' });
    assert.equal(stranger.status, 403);
  });

  test('signed in to the dashboard, the journey in the Web UI reads decoded at first look', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1500, height: 1100 } })).newPage();
    const decodes: number[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(`${ui}/codec/decode`)) decodes.push(r.status());
    });
    await page.goto(`${api}/dashboard`);
    await page.fill('#key', key);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${api}/dashboard`);
    await page.goto(`${ui}/namespaces/default/workflows/customer-ada`);
    await page.getByText('"userId": "ada"').first().waitFor({ timeout: 60_000 });
    await page.getByText('send Welcome').first().waitFor({ timeout: 30_000 });
    const body = (await page.textContent('body')) ?? '';
    assert.doesNotMatch(body, /Codec Server could not connect/i);
    assert.ok(decodes.length > 0 && decodes.every((s): boolean => s === 200), `decode answers: ${decodes.join(', ')}`);
    mkdirSync(join(PROJECT_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    console.log(`Temporal UI screenshot: ${SCREENSHOT}`);

    // Signed out, the same page holds ciphertext again: nothing but the sign-in decodes.
    await page.goto(`${api}/dashboard`);
    await page.click('[data-testid="sign-out"]');
    decodes.length = 0;
    await page.goto(`${ui}/namespaces/default/workflows/customer-ada`);
    await waitFor('the UI to ask the codec', async () => decodes.length > 0, 30_000);
    assert.ok(decodes.every((s): boolean => s === 401), `decode answers signed out: ${decodes.join(', ')}`);
  });
});
