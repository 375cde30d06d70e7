import type { Campaign, JourneyDefinition, Transition, Trigger } from '../core/journey-definition.js';
import { PREVIOUS_STAGE } from '../core/definition-constants.js';
import { formatDuration as formatDurationMs } from '../core/duration.js';
import { campaignStages } from '../definition-store/definition-changes.js';
import type { JourneyFigures } from './journey-figures.js';

/**
 * The journey drawn as SVG on the server (no layout library, nothing for the browser to run): stages in
 * a row in the definition's order, each transition on a line of its own above them (a dot where it leaves
 * a stage, an arrow where it enters one), and under each stage the campaigns it triggers with their live
 * figures and experiments. Campaigns that start in any stage (events, milestones, broadcasts) get a column
 * of their own at the end.
 */

const COL = 258;
const BOX_W = 234;
const BOX_H = 104;
const MARGIN = 24;
const LEVEL_H = 28;
const LINE_H = 15;

const esc = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const n = (v: number) => v.toLocaleString('en');

export function transitionLabel(t: Transition, definition: JourneyDefinition): string {
  const on =
    'timer' in t.on
      ? `timer “${definition.timers.find((x) => x.id === (t.on as { timer: string }).timer)?.summary ?? t.on.timer}”`
      : 'activity' in t.on
        ? 'any activity'
        : `${t.on.event}${t.on.where ? ` (${Object.entries(t.on.where).map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : ''}`;
  const when = t.when
    ? ` if ${[
        ...Object.entries(t.when.counters ?? {}).map(([c, cmp]) => `${c} ${cmp.gte !== undefined ? `≥ ${cmp.gte}` : cmp.lte !== undefined ? `≤ ${cmp.lte}` : `= ${cmp.eq}`}`),
        ...Object.entries(t.when.attributes ?? {}).map(([a, v]) => `${a} = ${Array.isArray(v) ? v.join('|') : v}`),
        ...(t.when.activeWithin ? [`active within ${formatDurationMs(t.when.activeWithin)}`] : []),
        ...(t.when.inStageFor ? [`in stage ${formatDurationMs(t.when.inStageFor)}`] : []),
      ].join(', ')}`
    : '';
  return `${on}${when}`;
}

export function triggerLabel(t: Trigger, definition: JourneyDefinition): string {
  if ('stageEntry' in t) return `on entering ${t.stageEntry}`;
  if ('timer' in t) {
    const summary = definition.timers.find((x) => x.id === t.timer)?.summary ?? t.timer;
    if (!t.offset) return `when ${summary}`;
    return `${formatDurationMs(Math.abs(t.offset))} ${t.offset < 0 ? 'before' : 'after'} ${summary}`;
  }
  if ('counter' in t) return `${t.counter} reaches ${t.reaches.join(', ')}`;
  if ('broadcast' in t) return `broadcast ${t.broadcast.cron} (${t.broadcast.timezone})`;
  return `on ${t.event}`;
}

export function experimentLabel(c: Campaign): string | null {
  if (!c.experiment) return null;
  const total = c.experiment.variants.reduce((s, v) => s + v.weight, 0);
  const share = 1 - c.experiment.holdout;
  const parts = c.experiment.variants.map((v) => `${v.id} ${Math.round((v.weight / total) * share * 100)}%`);
  if (c.experiment.holdout > 0) parts.push(`holdout ${Math.round(c.experiment.holdout * 100)}%`);
  return parts.join(' · ');
}

/** The experiment's shares on one line, or two when one would not fit the campaign's box. */
function experimentLines(c: Campaign): string[] {
  const label = experimentLabel(c);
  if (!label) return [];
  const text = `A/B ${label}`;
  if (text.length <= 38) return [text];
  const parts = text.split(' · ');
  const half = Math.ceil(parts.length / 2);
  return [`${parts.slice(0, half).join(' · ')} ·`, parts.slice(half).join(' · ')].map((l) => clip(l, 40));
}

interface Line {
  transition: Transition;
  label: string;
  from: number[];
  to: number | null;
  lo: number;
  hi: number;
  level: number;
}

export interface MapOptions {
  definition: JourneyDefinition;
  figures: JourneyFigures;
  stageLink: (stage: string) => string;
  /** Changed against the version compared with: outlined in the map. */
  marks?: { stages: Map<string, 'added' | 'changed'>; campaigns: Map<string, 'added' | 'changed'> };
}

export function journeyMapSvg(opts: MapOptions): string {
  const { definition, figures } = opts;
  const stages = definition.stages;
  const col = new Map(stages.map((s, i) => [s.id, i]));
  const anyCol = stages.length;

  // Transitions: one line each, the shorter spans nearer the stages.
  const lines: Line[] = definition.transitions.map((t) => {
    const from = t.from === '*' ? stages.map((_, i) => i) : t.from.map((s) => col.get(s)!).filter((i) => i !== undefined);
    const to = t.to === PREVIOUS_STAGE ? null : (col.get(t.to) ?? null);
    const span = [...(t.from === '*' ? [] : from), ...(to === null ? [] : [to])];
    const target = t.to === PREVIOUS_STAGE ? 'the stage before' : (stages.find((s) => s.id === t.to)?.label ?? t.to);
    return {
      transition: t,
      label: `${t.from === '*' ? 'any stage ' : ''}→ ${target}: ${transitionLabel(t, definition)}`,
      from: t.from === '*' ? [] : from,
      to,
      lo: Math.min(...span),
      hi: Math.max(...span),
      level: 0,
    };
  });
  lines.sort((a, b) => a.hi - a.lo - (b.hi - b.lo));
  lines.forEach((l, i) => (l.level = i));
  const levels = lines.length;
  const top = MARGIN + 30 + levels * LEVEL_H;
  const boxX = (i: number) => MARGIN + i * COL;
  /** Where line `level` meets a box: spread across the box so the lines of one box do not overlap. */
  const dropX = (i: number, level: number) => boxX(i) + 14 + ((level * 17) % (BOX_W - 28));

  // Campaigns under the first of their stages; those of any stage in the last column.
  const columns: Campaign[][] = Array.from({ length: stages.length + 1 }, () => []);
  for (const c of definition.campaigns) {
    const at = campaignStages(c, definition.timers);
    const first = at === '*' ? anyCol : Math.min(...at.map((s) => col.get(s) ?? anyCol));
    columns[first]!.push(c);
  }
  const chipLines = (c: Campaign) => 3 + experimentLines(c).length + Math.min(2, figures.campaigns[c.id]?.topSkipReasons.length ?? 0);
  const chipH = (c: Campaign) => 14 + chipLines(c) * LINE_H;
  const colHeight = columns.map((cs) => cs.reduce((h, c) => h + chipH(c) + 10, 0));
  const width = MARGIN * 2 + (stages.length + 1) * COL - (COL - BOX_W);
  const height = top + BOX_H + 40 + Math.max(0, ...colHeight) + MARGIN;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="journey-map" data-testid="journey-map" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(definition.name)}: stages, transitions and campaigns">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#475569"/></marker></defs>',
    `<text x="${MARGIN}" y="${MARGIN + 6}" class="map-note">Transitions (a dot where a journey leaves a stage, an arrow where it enters one)</text>`,
  );

  for (const l of lines) {
    const y = top - 16 - l.level * LEVEL_H;
    const xs = [...l.from.map((i) => dropX(i, l.level)), ...(l.to !== null ? [dropX(l.to, l.level)] : [])];
    const x1 = Math.min(...xs);
    const x2 = Math.max(...xs, x1 + 60);
    out.push(`<g class="transition" data-testid="map-transition" data-to="${esc(l.transition.to)}"><title>${esc(l.label)}${l.transition.description ? ` — ${esc(l.transition.description)}` : ''}</title>`);
    out.push(`<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" class="bus"/>`);
    for (const i of l.from) {
      if (i === l.to) continue;
      out.push(`<line x1="${dropX(i, l.level)}" y1="${y}" x2="${dropX(i, l.level)}" y2="${top}" class="drop"/><circle cx="${dropX(i, l.level)}" cy="${top}" r="3.5" class="leave"/>`);
    }
    if (l.to !== null) out.push(`<line x1="${dropX(l.to, l.level)}" y1="${y}" x2="${dropX(l.to, l.level)}" y2="${top - 2}" class="drop enter" marker-end="url(#arrow)"/>`);
    const labelX = x1 + 6;
    const text = clip(l.label, Math.max(26, Math.floor((width - labelX - MARGIN) / 6.6)));
    out.push(`<text x="${labelX}" y="${y - 5}" class="transition-label">${esc(text)}</text></g>`);
  }

  stages.forEach((s, i) => {
    const f = figures.stages[s.id] ?? { now: 0, entered: 0 };
    const x = boxX(i);
    const mark = opts.marks?.stages.get(s.id);
    out.push(
      `<a href="${esc(opts.stageLink(s.id))}" target="_blank" rel="noopener" data-testid="map-stage" data-stage="${esc(s.id)}" data-now="${f.now}" data-entered="${f.entered}">`,
      `<title>${esc(s.description ?? s.label ?? s.id)} — open the customers in ${esc(s.id)} in the Temporal Web UI</title>`,
      `<rect x="${x}" y="${top}" width="${BOX_W}" height="${BOX_H}" rx="10" class="stage${i === col.get(definition.initialStage) ? ' initial' : ''}${mark ? ` ${mark}` : ''}"/>`,
      `<text x="${x + 14}" y="${top + 26}" class="stage-name">${esc(clip(s.label ?? s.id, 24))}</text>`,
      `<text x="${x + BOX_W - 14}" y="${top + 26}" class="stage-id" text-anchor="end">${esc(clip(s.id, 14))}</text>`,
      `<text x="${x + 14}" y="${top + 60}" class="figure">${n(f.now)}</text><text x="${x + 14}" y="${top + 78}" class="figure-label">in it now</text>`,
      `<text x="${x + 120}" y="${top + 60}" class="figure">${n(f.entered)}</text><text x="${x + 120}" y="${top + 78}" class="figure-label">entered ${figures.since ? 'this period' : 'ever'}</text>`,
      `<text x="${x + 14}" y="${top + 96}" class="link-hint">Temporal UI ↗</text>`,
      '</a>',
    );
  });
  out.push(
    `<rect x="${boxX(anyCol)}" y="${top}" width="${BOX_W}" height="${BOX_H}" rx="10" class="stage any"/>`,
    `<text x="${boxX(anyCol) + 14}" y="${top + 26}" class="stage-name">Any stage</text>`,
    `<text x="${boxX(anyCol) + 14}" y="${top + 50}" class="figure-label">events, milestones, broadcasts</text>`,
  );

  columns.forEach((campaigns, i) => {
    let y = top + BOX_H + 30;
    const x = boxX(i);
    if (campaigns.length > 0) out.push(`<line x1="${x + BOX_W / 2}" y1="${top + BOX_H}" x2="${x + BOX_W / 2}" y2="${y - 4}" class="campaign-stem"/>`);
    for (const c of campaigns) {
      const f = figures.campaigns[c.id] ?? { sent: 0, skipped: 0, heldOut: 0, converted: 0, topSkipReasons: [] };
      const h = chipH(c);
      const mark = opts.marks?.campaigns.get(c.id);
      const experiment = experimentLabel(c);
      const rows = [
        `<text x="${x + 12}" y="${y + 18}" class="campaign-name">${esc(clip(c.name, 30))}</text>`,
        `<text x="${x + 12}" y="${y + 18 + LINE_H}" class="campaign-trigger">${esc(clip(c.trigger.map((t) => triggerLabel(t, definition)).join(' or '), 36))}</text>`,
        `<text x="${x + 12}" y="${y + 18 + 2 * LINE_H}" class="campaign-figures">sent ${n(f.sent)} · skipped ${n(f.skipped)} · converted ${n(f.converted)}</text>`,
      ];
      let line = 3;
      for (const text of experimentLines(c)) {
        rows.push(`<text x="${x + 12}" y="${y + 18 + line++ * LINE_H}" class="campaign-experiment">${esc(text)}<title>${esc(`A/B ${experiment}; held out so far: ${n(f.heldOut)}`)}</title></text>`);
      }
      for (const r of f.topSkipReasons.slice(0, 2)) rows.push(`<text x="${x + 12}" y="${y + 18 + line++ * LINE_H}" class="campaign-skip">${esc(clip(`skipped ${n(r.n)}: ${r.reason}`, 40))}</text>`);
      out.push(
        `<g class="campaign" data-testid="map-campaign" data-campaign="${esc(c.id)}" data-sent="${f.sent}" data-skipped="${f.skipped}" data-converted="${f.converted}" data-held-out="${f.heldOut}"${experiment ? ` data-experiment="${esc(experiment)}"` : ''}>`,
        `<title>${esc(`${c.name} (${c.kind})${c.description ? `: ${c.description}` : ''}${f.topSkipReasons.length ? `\nSkipped: ${f.topSkipReasons.map((r) => `${r.reason} (${r.n})`).join('; ')}` : ''}`)}</title>`,
        `<rect x="${x}" y="${y}" width="${BOX_W}" height="${h}" rx="8" class="campaign-box ${c.kind}${mark ? ` ${mark}` : ''}"/>`,
        ...rows,
        '</g>',
      );
      y += h + 10;
    }
  });
  out.push('</svg>');
  return out.join('\n');
}
