/**
 * Standalone SendGrid-compatible server for local development and cross-process tests.
 *
 *   npx tsx test/support/sendgrid-server-main.ts [--port 3025] [--api-key SG.xxx]
 */
import { parseArgs } from 'node:util';
import { startSendgridServer } from './sendgrid-server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '3025' },
    'api-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port: ${values.port}`);
  process.exit(2);
}

const server = await startSendgridServer({ port, apiKey: values['api-key'] });
console.log(`sendgrid-compatible server on ${server.url}`);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.log(`received ${signal}, stopping (${server.messages.length} message(s) accepted)`);
  server.close().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
