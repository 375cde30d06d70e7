import type { JourneyDefinition } from '../core/journey-definition.js';
import { definitionChanges, transitionKey, type DefinitionChange } from '../definition-store/definition-changes.js';
import type { StoredVersion } from '../definition-store/definition-store.js';
import type { LoadedDefinition } from '../definition-store/load-definition.js';
import type { JourneyFigures } from './journey-figures.js';
import { experimentLabel, journeyMapSvg, transitionLabel, triggerLabel } from './journey-map.js';
import { escapeHtml, layout } from './pages.js';

export const PERIODS = { '1d': 1, '7d': 7, '30d': 30, all: null } as const;
export type Period = keyof typeof PERIODS;
const PERIOD_LABEL: Record<Period, string> = { '1d': 'last 24 hours', '7d': 'last 7 days', '30d': 'last 30 days', all: 'all time' };

/** One element of a definition in a line a marketer reads, for the side-by-side view. */
function describe(d: JourneyDefinition, c: DefinitionChange): string {
  switch (c.subject) {
    case 'stage': {
      const s = d.stages.find((x) => x.id === c.id);
      return s ? `${s.label ?? s.id}${s.description ? `: ${s.description}` : ''}` : '';
    }
    case 'transition': {
      const t = d.transitions.find((x) => transitionKey(x) === c.id);
      return t ? `${t.from === '*' ? 'any stage' : t.from.join(', ')} → ${t.to}: ${transitionLabel(t, d)}` : '';
    }
    case 'timer': {
      const t = d.timers.find((x) => x.id === c.id);
      return t ? `${t.summary}: ${t.repeat ? 'monthly' : `${Math.round(t.after / 86_400_000)} days`} after ${t.anchor.kind === 'event' ? t.anchor.event : t.anchor.kind}, while in ${t.whileIn.join(', ')}` : '';
    }
    case 'campaign': {
      const x = d.campaigns.find((y) => y.id === c.id);
      if (!x) return '';
      const experiment = experimentLabel(x);
      return `${x.name} (${x.kind}), ${x.trigger.map((t) => triggerLabel(t, d)).join(' or ')}${x.steps ? `, ${x.steps.length} steps` : ''}${experiment ? `; A/B ${experiment}` : ''}${x.goal ? `; goal ${x.goal.event}` : ''}`;
    }
    case 'attribute': {
      const a = d.attributes.find((x) => x.id === c.id);
      return a ? `${a.id}${a.values ? `: one of ${a.values.join(', ')}` : ': free text'}${a.searchAttribute ? ` (search attribute ${a.searchAttribute})` : ''}` : '';
    }
    case 'counter': {
      const x = d.counters.find((y) => y.id === c.id);
      return x ? `${x.id}: counts ${x.on.map((o) => o.event).join(', ')}` : '';
    }
    case 'segment': {
      const x = d.segments.find((y) => y.id === c.id);
      return x ? `${x.id}: ${x.description ?? JSON.stringify(x.filter)}` : '';
    }
    case 'settings':
      return JSON.stringify((d as Record<string, unknown>)[c.id] ?? null);
  }
}

function diffPanel(a: LoadedDefinition, b: LoadedDefinition): string {
  const changes = definitionChanges(a.definition, b.definition);
  const rows = changes
    .map(
      (c) => `<tr class="change ${c.change}" data-testid="map-change" data-subject="${c.subject}" data-id="${escapeHtml(c.id)}" data-change="${c.change}">
<th scope="row"><span class="badge ${c.change}">${c.change}</span> ${escapeHtml(c.subject)} <code>${escapeHtml(c.id)}</code></th>
<td>${escapeHtml(describe(a.definition, c)) || '<span class="hint">(not in this version)</span>'}</td>
<td>${escapeHtml(describe(b.definition, c)) || '<span class="hint">(not in this version)</span>'}</td>
</tr>`,
    )
    .join('\n');
  return `<section class="panel wide" id="changes" aria-labelledby="changes-title" data-testid="map-diff">
<h2 id="changes-title">What changed from ${escapeHtml(a.version)} to ${escapeHtml(b.version)}</h2>
<p class="explain">${changes.length === 0 ? 'Nothing a journey would notice: the two versions differ only in wording of messages, if at all.' : `${changes.length} ${changes.length === 1 ? 'change' : 'changes'}; in the map, added elements are outlined green and changed ones amber.`}</p>
${changes.length ? `<div class="table-wrap"><table class="diff"><thead><tr><th scope="col">Change</th><th scope="col">${escapeHtml(a.version)}</th><th scope="col">${escapeHtml(b.version)} (drawn above)</th></tr></thead><tbody>${rows}</tbody></table></div>` : ''}
</section>`;
}

export interface JourneyPageInput {
  journeyName: string;
  signedIn: boolean;
  versions: StoredVersion[];
  shown: LoadedDefinition;
  compared?: LoadedDefinition;
  period: Period;
  figures: JourneyFigures;
  stageLink: (stage: string) => string;
}

function versionOption(v: StoredVersion, selected: string | undefined): string {
  const p = v.publications[0];
  const label = `${v.version}${v.live ? ' (live)' : ''}${p ? ` · ${p.at.slice(0, 16).replace('T', ' ')} · ${p.note}` : ''}`;
  return `<option value="${v.version}"${v.version === selected ? ' selected' : ''}>${escapeHtml(label.length > 80 ? `${label.slice(0, 79)}…` : label)}</option>`;
}

/** The journey map page: a picker for the version (and one to compare with), the map, and what changed. */
export function journeyPage(input: JourneyPageInput): string {
  const { shown, compared } = input;
  const marks = compared
    ? (() => {
        const changes = definitionChanges(compared.definition, shown.definition).filter((c) => c.change !== 'removed');
        const of = (subject: string) => new Map(changes.filter((c) => c.subject === subject).map((c) => [c.id, c.change as 'added' | 'changed']));
        return { stages: of('stage'), campaigns: of('campaign') };
      })()
    : undefined;
  const svg = journeyMapSvg({ definition: shown.definition, figures: input.figures, stageLink: input.stageLink, ...(marks ? { marks } : {}) });
  const live = input.versions.find((v) => v.live)?.version;
  return layout(
    `${input.journeyName} · Journey map`,
    `<body class="dashboard journey" data-version="${shown.version}">
<header class="top">
  <div>
    <h1>${escapeHtml(shown.definition.name)}</h1>
    <p class="subtitle">Journey map · version <code data-testid="map-version">${shown.version}</code>${shown.version === live ? ' (live)' : ' (not live)'} · figures: ${PERIOD_LABEL[input.period]}</p>
  </div>
  <nav class="actions">
    <a href="/dashboard" class="nav-link">Dashboard</a>
    ${input.signedIn ? '<form method="post" action="/dashboard/sign-out"><button type="submit" class="quiet">Sign out</button></form>' : ''}
  </nav>
</header>
<main>
  <section class="panel wide picker" aria-label="Version and period">
    <form method="get" action="/dashboard/journey" data-testid="map-picker">
      <label>Version <select name="version" data-testid="map-version-select">${input.versions.map((v) => versionOption(v, shown.version)).join('')}</select></label>
      <label>Compare with <select name="compare" data-testid="map-compare-select"><option value="">(none)</option>${input.versions.map((v) => versionOption(v, compared?.version)).join('')}</select></label>
      <label>Period <select name="period">${(Object.keys(PERIODS) as Period[]).map((p) => `<option value="${p}"${p === input.period ? ' selected' : ''}>${PERIOD_LABEL[p]}</option>`).join('')}</select></label>
      <button type="submit">Show</button>
    </form>
  </section>
  <section class="panel wide map-panel" aria-labelledby="map-title">
    <h2 id="map-title">Stages, transitions and campaigns</h2>
    <p class="explain">Each stage shows the customers in it now and those who entered it in the period, and opens their list in the Temporal Web UI. Under it, the campaigns it triggers, with messages sent, steps skipped (and the most frequent reasons) and conversions to the campaign's goal in the period; experiments show their variants' and the holdout's shares.</p>
    <div class="map-scroll">${svg}</div>
  </section>
  ${compared ? diffPanel(compared, shown) : ''}
</main>
</body>`,
  );
}
