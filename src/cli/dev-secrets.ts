import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import webPush from 'web-push';
import { PayloadKeys } from '../codec/payload-keys.js';

/** The development API key of `npm start` and `npm run start:cluster`, made on first run and kept in the data folder. */
export function devApiKey(dataDir: string): string {
  const file = join(dataDir, 'dev-api-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `dev_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * The development payload key, made on first run and kept (journeys in .data need it to be read again).
 * Losing it makes those histories unreadable: that is the point of encrypting them.
 */
export function devPayloadKeys(dataDir: string): string {
  const file = join(dataDir, 'dev-payload-keys');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const keys = PayloadKeys.generate(`dev-${new Date().toISOString().slice(0, 10)}`);
  writeFileSync(file, `${keys}\n`, { mode: 0o600 });
  return keys;
}

/**
 * The development VAPID key pair (web push), made on first run and kept: browsers subscribed to it stop
 * working when it changes.
 */
export function devVapidKeys(dataDir: string): { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string; VAPID_SUBJECT: string } {
  const file = join(dataDir, 'dev-vapid-keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof devVapidKeys>;
  const pair = webPush.generateVAPIDKeys();
  const keys = { VAPID_PUBLIC_KEY: pair.publicKey, VAPID_PRIVATE_KEY: pair.privateKey, VAPID_SUBJECT: 'mailto:dev@localhost.example' };
  writeFileSync(file, `${JSON.stringify(keys)}\n`, { mode: 0o600 });
  return keys;
}

/** Every scope: the development key may do everything. */
export const DEV_KEY_SCOPES = 'events:write|customers:read|customers:write|metrics:read|codec:decode|definitions:read|definitions:write';

/** The closing lines of the start banner: three calls to try with the printed key. */
export function tryItLines(apiUrl: string, key: string): string[] {
  return [
    '',
    '  Try it:',
    `    curl -s -X POST ${apiUrl}/v1/identify -H "Authorization: Bearer ${key}" -H 'Content-Type: application/json' \\`,
    `      -d '{"userId":"ada","traits":{"email":"ada@example.com","firstName":"Ada","timezone":"Europe/Berlin"}}'`,
    `    curl -s -X POST ${apiUrl}/v1/track -H "Authorization: Bearer ${key}" -H 'Content-Type: application/json' \\`,
    `      -d '{"userId":"ada","event":"Signed Up","messageId":"ada-signup-1"}'`,
    `    curl -s ${apiUrl}/v1/customers/ada -H "Authorization: Bearer ${key}"`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ];
}
