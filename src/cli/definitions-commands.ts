import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError, type Command } from 'commander';
import YAML from 'yaml';
import { DefinitionError, loadDefinitionFile } from '../definition-store/load-definition.js';
import type { GateResult } from '../definition-store/publish-gate.js';
import { api, print, table, type Options } from './cli-support.js';

/** The command ended on a refusal (or no confirmation): exit non-zero after saying why. */
export class Refused extends Error {}

async function readDocument(file: string, what: string): Promise<unknown> {
  try {
    return YAML.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    throw new Error(`cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

const whole = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what}: a whole number`);
  return n;
};

interface SimulationFlags {
  customers?: number;
  days?: number;
  seed?: number;
  model?: string;
}

async function simulationOf(o: SimulationFlags) {
  return {
    ...(o.customers !== undefined ? { customers: o.customers } : {}),
    ...(o.days !== undefined ? { days: o.days } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.model ? { model: await readDocument(o.model, 'behaviour model') } : {}),
  };
}

type Gate = GateResult & { status: string; publication?: { id: string; at: string } };

function showGate(g: Gate): string {
  const out = [`Journey ${g.definitionId}: live ${g.live ?? '(none)'} -> candidate ${g.candidate}; ${g.liveJourneys} live journeys`, ''];
  out.push('Changes (live journeys each reaches)');
  out.push(g.changes.length ? table(g.changes.map((c) => ({ ...c, stages: c.stages === '*' ? 'all' : c.stages })), ['description', 'stages', 'journeys']) : '  (none)');
  if (g.simulation) {
    const s = g.simulation;
    const show = (v: number | null, unit: string) => (v === null ? '–' : unit === 'percent' ? `${v.toFixed(1)}%` : String(v));
    const rows = s.comparison.filter((r) => r.difference !== 0);
    out.push('', `Simulated side by side: ${s.customers} synthetic customers x ${s.days} days, seed ${s.seed}, behaviour ${s.model}`);
    out.push(
      rows.length
        ? table(
            rows.map((r) => ({ metric: r.metric, live: show(r.a, r.unit), candidate: show(r.b, r.unit), difference: r.difference === null ? '' : `${r.difference > 0 ? '+' : ''}${r.difference}${r.unit === 'percent' ? ' pp' : ''}` })),
            ['metric', 'live', 'candidate', 'difference'],
          )
        : '  no KPI differs',
    );
    out.push(`  (${s.comparison.length - rows.length} of ${s.comparison.length} KPIs the same)`);
  }
  return out.join('\n');
}

async function confirmed(yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question('Publish it? [y/N] ')).trim());
  } finally {
    rl.close();
  }
}

/** Preview through the gate, show it, then commit with the token once confirmed (`--yes`, or asked at a terminal). */
async function throughGate(path: string, body: Record<string, unknown>, opts: Options, yes: boolean | undefined): Promise<void> {
  const preview = (await api('POST', path, body)) as Gate;
  if (preview.status === 'unchanged') return print(opts, preview, () => `Version ${preview.candidate} is live already; nothing to do.`);
  if (!opts.json) process.stdout.write(`${showGate(preview)}\n\n`);
  if (!(await confirmed(yes))) {
    if (opts.json) print(opts, preview, () => '');
    throw new Refused('not published: run again with --yes to publish it');
  }
  const done = (await api('POST', path, { ...body, confirm: preview.confirmToken })) as Gate;
  print(opts, done, () => `Published ${done.candidate} (was ${done.live ?? '(none)'}): new journeys start on it now, running ones move at their next continue-as-new.`);
}

export function addDefinitionCommands(program: Command): void {
  const definitions = program.command('definitions').description('the journey definition: versions, check, simulate, publish, roll back');
  const opts = () => program.opts<Options>();

  definitions
    .command('list')
    .description('stored versions, newest first, with who published each, when, why and from which version')
    .action(async () => {
      const result = (await api('GET', '/v1/definitions')) as { definitionId: string; live: string | null; versions: Array<{ version: string; live: boolean; storedAt: string; publications: Array<{ kind: string; by: string; at: string; note: string; from: string | null }> }> };
      print(opts(), result, () =>
        [
          `Journey ${result.definitionId}, live ${result.live ?? '(none)'}`,
          table(
            result.versions.map((v) => {
              const p = v.publications[0];
              return { version: `${v.version}${v.live ? ' *' : ''}`, published: p?.at ?? `(stored ${v.storedAt})`, by: p?.by ?? '', kind: p?.kind ?? '', from: p?.from ?? '', note: p?.note ?? '' };
            }),
            ['version', 'published', 'by', 'kind', 'from', 'note'],
          ),
          '* live',
        ].join('\n'),
      );
    });

  definitions
    .command('show')
    .argument('<version>')
    .description('one stored version as authored (YAML), with its publications')
    .action(async (version: string) => {
      const result = (await api('GET', `/v1/definitions/versions/${encodeURIComponent(version)}`)) as { version: string; live: boolean; publications: Array<Record<string, unknown>>; definition: unknown };
      print(opts(), result, () =>
        [
          `# version ${result.version}${result.live ? ' (live)' : ''}`,
          ...result.publications.map((p) => `# ${String(p.kind)} ${String(p.at)} by ${String(p.by)} from ${String(p.from ?? '(none)')}: ${String(p.note)}`),
          YAML.stringify(result.definition).trimEnd(),
        ].join('\n'),
      );
    });

  definitions
    .command('check')
    .argument('<file>')
    .description('every violation in a definition file (schema, graph and templates), as the workers would find them')
    .action(async (file: string) => {
      try {
        const loaded = await loadDefinitionFile(file);
        print(opts(), { valid: true, version: loaded.version, violations: [] }, () => `${file}: valid, version ${loaded.version}`);
      } catch (err) {
        if (!(err instanceof DefinitionError)) throw err;
        print(opts(), { valid: false, violations: err.violations }, () => `${file}: ${err.violations.length} ${err.violations.length === 1 ? 'violation' : 'violations'}\n${err.violations.map((v) => `  - ${v.path || '(root)'}: ${v.message}`).join('\n')}`);
        throw new Refused('');
      }
    });

  const simulationFlags = (c: Command) =>
    c
      .option('--customers <n>', 'synthetic customers (default 100)', whole('--customers'))
      .option('--days <n>', 'simulated days (default 90)', whole('--days'))
      .option('--seed <n>', 'random seed: the same customers for both versions (default 1)', whole('--seed'))
      .option('--model <file>', "the team's own behaviour model (YAML), merged over the default");

  simulationFlags(definitions.command('simulate').argument('<file>').description('run the file and the live version side by side on the same synthetic customers')).action(
    async (file: string, o: SimulationFlags) => {
      const result = (await api('POST', '/v1/definitions/simulate', { definition: await readDocument(file, 'definition'), simulation: await simulationOf(o) })) as Gate;
      print(opts(), result, () => showGate(result));
    },
  );

  simulationFlags(definitions.command('publish').argument('<file>').description('publish a definition through the gate: shows what changes, then asks (or --yes)'))
    .requiredOption('--note <text>', 'why: kept with the version')
    .option('--yes', 'publish without asking once the gate passes (CI)')
    .action(async (file: string, o: SimulationFlags & { note: string; yes?: boolean }) => {
      await throughGate('/v1/definitions/publish', { definition: await readDocument(file, 'definition'), note: o.note, simulation: await simulationOf(o) }, opts(), o.yes);
    });

  simulationFlags(definitions.command('rollback').argument('<version>').description('publish an earlier stored version again, through the same gate'))
    .requiredOption('--note <text>', 'why')
    .option('--yes', 'roll back without asking once the gate passes')
    .action(async (version: string, o: SimulationFlags & { note: string; yes?: boolean }) => {
      await throughGate('/v1/definitions/rollback', { version, note: o.note, simulation: await simulationOf(o) }, opts(), o.yes);
    });
}

