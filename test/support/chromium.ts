import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The system's Chromium, which `npm install` installs with apt when it can (scripts/install-browser.sh). */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium for the browser tests, quiet: no sync, updates, QUIC or background traffic. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser.sh (as root, or with passwordless sudo)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
