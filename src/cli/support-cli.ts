import { Command, InvalidArgumentError } from 'commander';
import { api, print, supportAction, table, type Options } from './cli-support.js';
import { addDefinitionCommands } from './definitions-commands.js';

/**
 * `lifecycle`: support staff's command line over the API. Readable tables by default, `--json` for
 * scripts. LIFECYCLE_API_URL (default http://localhost:3000) and LIFECYCLE_API_KEY say where and who.
 */
interface JourneyView {
  stage: string;
  plan: string | null;
  /** Absent on a journey told from the read model after it closed. */
  summary?: string;
  status?: string;
  source?: 'workflow' | 'read-model';
  stages: Array<{ stage: string; at: string; why: string }>;
  pending: Array<{ what: string; at: string; because?: string }>;
  messages: Array<{ campaignId: string; status: string; at: string; reason?: string }>;
  audit: Array<{ at: string; actor: string; action: string; reason?: string }>;
}

function showJourney(journey: JourneyView | null): string {
  if (!journey) return 'no journey yet';
  return [
    journey.summary ?? `${journey.stage}${journey.plan ? ` (plan ${journey.plan})` : ''}`,
    ...(journey.status && journey.status !== 'RUNNING'
      ? [`Journey ${journey.status.toLowerCase()}${journey.source === 'read-model' ? ', told from the read model' : ''}`]
      : []),
    '',
    'Stages',
    table(journey.stages, ['stage', 'at', 'why']),
    '',
    'Coming up',
    journey.pending.length ? table(journey.pending, ['what', 'at', 'because']) : '(nothing scheduled)',
    '',
    'Messages',
    journey.messages.length ? table(journey.messages, ['campaignId', 'status', 'at', 'reason']) : '(none)',
    ...(journey.audit?.length ? ['', 'Support actions', table(journey.audit, ['at', 'actor', 'action', 'reason'])] : []),
  ].join('\n');
}

/** A support action's key, given again to learn what an earlier, unanswered run of the command did. */
const IDEMPOTENCY_OPTION = ['--idempotency-key <key>', 'the key an unanswered earlier run printed: its answer, the action not taken twice'] as const;

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of days, 1 or more');
  return n;
};

const program = new Command('lifecycle').description('Support and journey tools for customer lifecycle journeys').option('--json', 'print JSON for scripts');
const customer = program.command('customer').description('look at and act on one customer');

customer
  .command('show')
  .argument('<userId>')
  .description('stage, why, what comes next, messages')
  .action(async (userId: string) => {
    const opts = program.opts<Options>();
    const result = (await api('GET', `/v1/customers/${encodeURIComponent(userId)}`)) as { profile: Record<string, unknown> | null; journey: JourneyView | null };
    print(opts, result, () =>
      [`Customer ${userId}${result.profile?.email ? ` <${String(result.profile.email)}>` : ''}`, showJourney(result.journey)].join('\n'),
    );
  });

customer
  .command('list')
  .description('customers by stage, plan or segment')
  .option('--stage <stage>')
  .option('--plan <plan>')
  .option('--segment <segment>')
  .option('--limit <n>', 'page size', '25')
  .option('--cursor <cursor>', 'the next page, from an earlier list')
  .action(async (o: { stage?: string; plan?: string; segment?: string; limit: string; cursor?: string }) => {
    const opts = program.opts<Options>();
    const query = new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined) as Array<[string, string]>);
    const result = (await api('GET', `/v1/customers?${query}`)) as { customers: Array<Record<string, unknown>>; nextCursor: string | null };
    print(opts, result, () =>
      [table(result.customers, ['userId', 'stage', 'plan', 'segments']), ...(result.nextCursor ? [`more: --cursor ${result.nextCursor}`] : [])].join('\n'),
    );
  });

customer
  .command('extend-trial')
  .argument('<userId>')
  .requiredOption('--days <n>', 'days to add', positiveInt)
  .option('--reason <text>')
  .option(...IDEMPOTENCY_OPTION)
  .action(async (userId: string, o: { days: number; reason?: string; idempotencyKey?: string }) => {
    const opts = program.opts<Options>();
    const journey = (await supportAction(`/v1/customers/${encodeURIComponent(userId)}/extend-trial`, { days: o.days, ...(o.reason ? { reason: o.reason } : {}) }, o.idempotencyKey)) as JourneyView;
    print(opts, journey, () => `Trial of ${userId} extended by ${o.days} days.\n${showJourney(journey)}`);
  });

for (const [name, path] of [
  ['pause-marketing', 'pause-marketing'],
  ['resume-marketing', 'resume-marketing'],
] as const) {
  customer
    .command(name)
    .argument('<userId>')
    .option('--reason <text>')
    .option(...IDEMPOTENCY_OPTION)
    .action(async (userId: string, o: { reason?: string; idempotencyKey?: string }) => {
      const opts = program.opts<Options>();
      const journey = (await supportAction(`/v1/customers/${encodeURIComponent(userId)}/${path}`, o.reason ? { reason: o.reason } : {}, o.idempotencyKey)) as JourneyView;
      print(opts, journey, () => `${name} for ${userId}: done.\n${showJourney(journey)}`);
    });
}

interface PreferencesView {
  marketing: boolean;
  topics: Record<string, boolean>;
  channels: Record<string, boolean>;
  updatedAt: string | null;
}
const collect = (value: string, previous: string[]) => [...previous, value];
const onOff = (value: string) => {
  if (value !== 'on' && value !== 'off') throw new InvalidArgumentError('on or off');
  return value === 'on';
};

customer
  .command('preferences')
  .argument('<userId>')
  .description('what marketing the customer wants, per topic and channel; with options, change it (as the API does)')
  .option('--marketing <on|off>', 'all marketing', onOff)
  .option('--on <topic>', 'turn a topic on (repeatable)', collect, [])
  .option('--off <topic>', 'turn a topic off (repeatable)', collect, [])
  .option('--channel-on <channel>', 'allow marketing by a channel (repeatable)', collect, [])
  .option('--channel-off <channel>', 'no marketing by a channel (repeatable)', collect, [])
  .action(async (userId: string, o: { marketing?: boolean; on: string[]; off: string[]; channelOn: string[]; channelOff: string[] }) => {
    const opts = program.opts<Options>();
    const switches = (on: string[], off: string[]) => (on.length + off.length ? { ...Object.fromEntries(on.map((id) => [id, true])), ...Object.fromEntries(off.map((id) => [id, false])) } : undefined);
    const topics = switches(o.on, o.off);
    const channels = switches(o.channelOn, o.channelOff);
    const change = { ...(o.marketing !== undefined ? { marketing: o.marketing } : {}), ...(topics ? { topics } : {}), ...(channels ? { channels } : {}) };
    const path = `/v1/customers/${encodeURIComponent(userId)}/preferences`;
    const result = (await (Object.keys(change).length ? api('PUT', path, change) : api('GET', path))) as PreferencesView;
    const rows = [
      { what: 'all marketing', on: result.marketing ? 'on' : 'off' },
      ...Object.entries(result.topics).map(([id, on]) => ({ what: `topic ${id}`, on: on ? 'on' : 'off' })),
      ...Object.entries(result.channels).map(([id, on]) => ({ what: `channel ${id}`, on: on ? 'on' : 'off' })),
    ];
    print(opts, result, () => [`Preferences of ${userId} (changed ${result.updatedAt ?? 'never'})`, table(rows, ['what', 'on'])].join('\n'));
  });

addDefinitionCommands(program);

program.parseAsync().catch((err: Error) => {
  if (err.message) process.stderr.write(`lifecycle: ${err.message}\n`);
  process.exit(1);
});
