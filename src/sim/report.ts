import { foldFunnel, type FunnelStep } from '../kpis/funnel.js';
import { foldKpis, type Kpis } from '../kpis/compute-kpis.js';
import type { LoadedDefinition } from '../definition-store/load-definition.js';
import type { SimSummary } from './memory-store.js';

/** What one simulation found. The same definition, model, seed and size give the same report. */
export interface SimulationReport {
  definition: { id: string; name: string; version: string; file: string };
  model: string;
  seed: number;
  customers: number;
  days: number;
  start: string;
  end: string;
  /** The KPIs as GET /v1/kpis computes them (the same fold), over the simulated read model. */
  kpis: Kpis;
  /** Customers who ever reached each stage, in the definition's order (lapsed and churned are exits). */
  funnel: FunnelStep[];
  /** Events the synthetic customers sent, by name. */
  events: Record<string, number>;
  broadcasts: { campaigns: string[]; runs: number; journeysReached: number };
}

export interface SimulationSpeed {
  /** Which engine ran it (run-simulation.ts). */
  engine: 'fast' | 'workflow';
  /** From starting the test server to the report. */
  wallMs: number;
  /** From the first customer to the last simulated instant. */
  simulatingMs: number;
  customerYears: number;
  /** customers x days / 365 per minute of wall time (all of it). */
  customerYearsPerMinute: number;
}

export function buildReport(
  summary: SimSummary,
  run: { definition: LoadedDefinition; definitionFile: string; model: string; seed: number; customers: number; days: number; start: number; end: number; broadcastCampaigns: string[] },
): SimulationReport {
  const kpis = foldKpis(summary.journeyGroups, summary.reactivated, summary.factGroups);
  const { definition } = run.definition;
  const funnel = foldFunnel(
    { stages: definition.stages, loyalStage: definition.metrics.loyalStage },
    Object.entries(summary.reached).map(([stage, n]) => ({ stage, n })),
    kpis.customers,
  );
  return {
    definition: { id: definition.id, name: definition.name, version: run.definition.version, file: run.definitionFile },
    model: run.model,
    seed: run.seed,
    customers: run.customers,
    days: run.days,
    start: new Date(run.start).toISOString(),
    end: new Date(run.end).toISOString(),
    kpis,
    funnel,
    events: Object.fromEntries(Object.entries(summary.events).sort(([a], [b]) => a.localeCompare(b))),
    broadcasts: { campaigns: run.broadcastCampaigns, runs: summary.broadcastRuns.length, journeysReached: summary.broadcastSignalled },
  };
}

// --- text ------------------------------------------------------------------------------------------------

const pct = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)}%`);
const signed = (v: number) => (v > 0 ? `+${v}` : String(v));

function table(rows: string[][], rightFrom = 1): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((cell, i) => (i >= rightFrom ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
}

export function formatSpeed(speed: SimulationSpeed): string {
  return `${speed.customerYears.toFixed(1)} customer-years in ${formatDuration(speed.wallMs)} wall time (${formatDuration(speed.simulatingMs)} simulating): ${speed.customerYearsPerMinute.toFixed(1)} customer-years per minute`;
}

function title(r: SimulationReport): string {
  return `${r.definition.name} (${r.definition.id}@${r.definition.version}, ${r.definition.file})`;
}

/** The readable report of one run. */
export function formatReport(r: SimulationReport, speed?: SimulationSpeed): string {
  const { kpis } = r;
  const out: string[] = [];
  out.push(`${title(r)}`);
  out.push(`${r.customers} synthetic customers x ${r.days} days, seed ${r.seed}, behaviour ${r.model}; simulated ${r.start.slice(0, 10)} to ${r.end.slice(0, 10)}`);
  out.push(
    r.broadcasts.campaigns.length > 0
      ? `Broadcasts ${r.broadcasts.campaigns.join(', ')}: ${r.broadcasts.runs} runs reached ${r.broadcasts.journeysReached} journeys (their Temporal Schedules stood in for by a workflow on the fire times)`
      : 'Broadcasts: none simulated',
  );
  out.push('', 'Customers per stage');
  out.push(table(Object.entries(kpis.customersPerStage).map(([stage, n]) => [stage, String(n), pct(kpis.customers ? (n / kpis.customers) * 100 : null)])));
  out.push('', 'Funnel (customers who ever reached the stage)');
  out.push(
    table([
      ['stage', 'reached', 'of previous', 'of customers'],
      ...r.funnel.map((s) => [`${s.kind === 'exit' ? 'exit: ' : ''}${s.stage}`, String(s.reached), pct(s.conversion), pct(s.shareOfCustomers)]),
    ]),
  );
  out.push('', 'Rates');
  out.push(
    table([
      ['activation (ever paid / customers)', pct(kpis.rates.activation), `${kpis.counts.paying} paying`],
      ['repeat customer (2+ payments / paying)', pct(kpis.rates.repeatCustomer), `${kpis.counts.repeat} repeat`],
      ['loyal customer (loyal / repeat)', pct(kpis.rates.loyalCustomer), `${kpis.counts.loyal} loyal`],
      ['reactivated (churned, then paying again)', '', `${kpis.counts.reactivated} customers`],
    ]),
  );
  out.push('', 'Campaigns');
  const rows = [['campaign', 'variant', 'sent', 'skipped', 'cancelled', 'holdout', 'converted', 'rate', 'lift']];
  for (const c of kpis.campaigns) {
    for (const v of c.variants) {
      rows.push([c.campaignId, v.variant, String(v.sent), String(v.skipped), String(v.cancelled), String(v.holdout), String(v.converted), pct(v.conversionRate), v.lift === null ? '' : `${signed(v.lift)}%`]);
    }
  }
  out.push(table(rows, 2));
  const experiments = formatExperiments(kpis);
  if (experiments) out.push('', experiments);
  out.push('', `Events: ${Object.entries(r.events).map(([e, n]) => `${e} ${n}`).join(', ')}`);
  if (speed) out.push('', `Speed (${speed.engine} engine): ${formatSpeed(speed)}`);
  return out.join('\n');
}

const interval = (i: { low: number; high: number | null } | null, unit = '%') => (i ? `[${i.low}${unit}, ${i.high === null ? 'unbounded' : `${i.high}${unit}`}]` : '');
const signedNumber = (v: number | null, unit: string) => (v === null ? '–' : `${v > 0 ? '+' : ''}${v}${unit}`);

/**
 * Every experiment variant against the holdout and the other variants: the rate with its 95% interval, the
 * difference and the lift with theirs, and the probability to beat; "not enough data" under the minimum.
 */
export function formatExperiments(kpis: Kpis): string | undefined {
  const rows = [['campaign', 'variant', 'rate [95%]', 'against', 'difference [95%]', 'lift [95%]', 'P(beats)']];
  let minimum = 0;
  for (const c of kpis.campaigns) {
    for (const v of c.variants) {
      for (const [k, comparison] of v.comparisons.entries()) {
        minimum = comparison.minimumGroupSize;
        const first = k === 0;
        const head = first ? [c.campaignId, v.variant, `${pct(v.conversionRate)} ${interval(v.conversionRateInterval)}`] : ['', '', ''];
        rows.push(
          comparison.enoughData
            ? [
                ...head,
                comparison.against,
                `${signedNumber(comparison.difference, ' pp')} ${interval(comparison.differenceInterval, ' pp')}`,
                `${signedNumber(comparison.lift, '%')} ${interval(comparison.liftInterval)}`,
                comparison.probabilityToBeat.toFixed(3),
              ]
            : [...head, comparison.against, 'not enough data', '', ''],
        );
      }
    }
  }
  if (rows.length === 1) return undefined;
  return [
    `Experiments (95% intervals: Wilson for rates, Newcombe hybrid score for differences, MOVER-R for lifts; P(beats): probability the true rate is higher, Beta(1, 1) prior, exact; "not enough data" under ${minimum} customers in either group)`,
    table(rows, 2),
  ].join('\n');
}

// --- compare ---------------------------------------------------------------------------------------------

export interface ComparisonRow {
  metric: string;
  a: number | null;
  b: number | null;
  /** b - a, null when either is missing. */
  difference: number | null;
  unit: 'count' | 'percent';
}

function metrics(r: SimulationReport): Map<string, { value: number | null; unit: 'count' | 'percent' }> {
  const m = new Map<string, { value: number | null; unit: 'count' | 'percent' }>();
  const { kpis } = r;
  for (const [stage, n] of Object.entries(kpis.customersPerStage)) m.set(`customers in ${stage}`, { value: n, unit: 'count' });
  for (const s of r.funnel) m.set(`ever reached ${s.stage}`, { value: s.reached, unit: 'count' });
  m.set('activation rate', { value: kpis.rates.activation, unit: 'percent' });
  m.set('repeat-customer rate', { value: kpis.rates.repeatCustomer, unit: 'percent' });
  m.set('loyal-customer rate', { value: kpis.rates.loyalCustomer, unit: 'percent' });
  m.set('paying customers', { value: kpis.counts.paying, unit: 'count' });
  m.set('reactivated customers', { value: kpis.counts.reactivated, unit: 'count' });
  for (const c of kpis.campaigns) {
    for (const v of c.variants) {
      const name = `${c.campaignId}/${v.variant}`;
      m.set(`${name} sent`, { value: v.variant === 'holdout' ? v.holdout : v.sent, unit: 'count' });
      m.set(`${name} converted`, { value: v.converted, unit: 'count' });
      m.set(`${name} conversion rate`, { value: v.conversionRate, unit: 'percent' });
      if (v.lift !== null) m.set(`${name} lift`, { value: v.lift, unit: 'percent' });
      if (v.probabilityToBeatHoldout !== null) m.set(`${name} chance to beat holdout`, { value: Math.round(v.probabilityToBeatHoldout * 1000) / 10, unit: 'percent' });
    }
  }
  return m;
}

/** Every metric of either report, side by side, in the order the first report lists them (the second's own after). */
export function compareReports(a: SimulationReport, b: SimulationReport): ComparisonRow[] {
  const ma = metrics(a);
  const mb = metrics(b);
  const names = [...new Set([...ma.keys(), ...mb.keys()])];
  return names.map((metric) => {
    const va = ma.get(metric)?.value ?? null;
    const vb = mb.get(metric)?.value ?? null;
    const difference = va !== null && vb !== null ? Math.round((vb - va) * 10) / 10 : null;
    return { metric, a: va, b: vb, difference, unit: ma.get(metric)?.unit ?? mb.get(metric)?.unit ?? 'count' };
  });
}

export function formatComparison(a: SimulationReport, b: SimulationReport, rows: ComparisonRow[]): string {
  const show = (v: number | null, unit: ComparisonRow['unit']) => (v === null ? '–' : unit === 'percent' ? `${v.toFixed(1)}%` : String(v));
  const diff = (r: ComparisonRow) => (r.difference === null ? '' : r.difference === 0 ? '=' : `${signed(r.difference)}${r.unit === 'percent' ? ' pp' : ''}`);
  const out = [
    `A: ${title(a)}`,
    `B: ${title(b)}`,
    `${a.customers} synthetic customers x ${a.days} days, seed ${a.seed}, behaviour ${a.model} (the same customers in both)`,
    '',
    table([['metric', 'A', 'B', 'B - A'], ...rows.map((r) => [r.metric, show(r.a, r.unit), show(r.b, r.unit), diff(r)])]),
  ];
  const changed = rows.filter((r) => r.difference !== 0);
  out.push('', changed.length === 0 ? 'No differences.' : `${changed.length} of ${rows.length} metrics differ.`);
  return out.join('\n');
}
