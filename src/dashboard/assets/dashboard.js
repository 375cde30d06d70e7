/* The marketer dashboard: reads GET /dashboard/data and draws it. Plain browser JavaScript, Chart.js as a global. */
/* global Chart, document, window, fetch, location, URLSearchParams, getComputedStyle */

(function dashboard() {
  const COLORS = {
    step: '#2563eb',
    exit: '#94a3b8',
    activation: '#2563eb',
    repeatCustomer: '#0d9488',
    loyalCustomer: '#d97706',
    sent: '#6366f1',
    heldOut: '#cbd5e1',
    converted: '#16a34a',
    text: '#1e293b',
    muted: '#64748b',
    grid: '#e2e8f0',
  };
  const RATES = [
    { key: 'activation', label: 'Activation', detail: (c) => `${c.paying} paying of ${c.customers} customers` },
    { key: 'repeatCustomer', label: 'Repeat customers', detail: (c) => `${c.repeat} with 2+ payments of ${c.paying} paying` },
    { key: 'loyalCustomer', label: 'Loyal customers', detail: (c) => `${c.loyal} loyal of ${c.repeat} repeat customers` },
  ];
  const charts = {};
  let interval = 'day';

  const $ = (selector, root = document) => root.querySelector(selector);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null) continue;
      if (name === 'class') node.className = value;
      else if (name === 'data') for (const [k, v] of Object.entries(value)) node.dataset[k] = v === null ? '' : String(v);
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  };
  /** The API's numbers as text: rates already have 1 decimal; null means "no denominator". */
  const pct = (value) => (value === null || value === undefined ? '–' : `${value}%`);
  const signedPct = (value) => (value === null || value === undefined ? '–' : `${value > 0 ? '+' : ''}${value}%`);
  const count = (value) => String(value);
  const shortDate = (iso) => new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = COLORS.muted;
  Chart.defaults.borderColor = COLORS.grid;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  /** Draws each bar's value above it (Chart.js has no data labels of its own). */
  const barValues = {
    id: 'barValues',
    afterDatasetsDraw(chart, _args, options) {
      const { ctx } = chart;
      ctx.save();
      ctx.font = `600 12px ${Chart.defaults.font.family}`;
      ctx.fillStyle = COLORS.text;
      const horizontal = chart.options.indexAxis === 'y';
      ctx.textAlign = horizontal ? 'left' : 'center';
      ctx.textBaseline = horizontal ? 'middle' : 'bottom';
      chart.data.datasets.forEach((dataset, d) => {
        const meta = chart.getDatasetMeta(d);
        if (!chart.isDatasetVisible(d)) return;
        meta.data.forEach((bar, i) => {
          const value = dataset.data[i];
          if (value === null || value === undefined || (options.skipZero && value === 0)) return;
          const text = options.format ? options.format(value, i) : String(value);
          if (horizontal) ctx.fillText(text, bar.x + 4, bar.y);
          else ctx.fillText(text, bar.x, bar.y - 4);
        });
      });
      ctx.restore();
    },
  };

  function draw(id, config) {
    charts[id]?.destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function renderCards(data) {
    const customers = $('[data-testid="customers"]');
    customers.dataset.value = data.customers;
    $('.value', customers).textContent = count(data.customers);
    for (const rate of RATES) {
      const card = $(`[data-testid="rate-${rate.key}"]`);
      card.dataset.value = data.rates[rate.key] === null ? '' : data.rates[rate.key];
      $('.value', card).textContent = pct(data.rates[rate.key]);
      $('.detail', card).textContent = rate.detail({ customers: data.customers, ...data.counts });
    }
  }

  function renderFunnel(data) {
    const funnel = data.funnel;
    const list = $('[data-testid="funnel-steps"]');
    list.replaceChildren(
      ...funnel.map((step) =>
        el(
          'li',
          {
            class: `funnel-step ${step.kind}`,
            'data-testid': 'funnel-step',
            data: { stage: step.stage, reached: step.reached, conversion: step.conversion, now: data.customersPerStage[step.stage] ?? 0, kind: step.kind },
          },
          el('a', { href: data.links.temporalUi[step.stage], target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'funnel-link', title: `Open the ${step.label} journeys in the Temporal Web UI` }, step.label, el('span', { class: 'external', 'aria-hidden': 'true' }, ' ↗')),
          el('span', { class: 'reached', 'data-testid': 'funnel-reached' }, count(step.reached)),
          el(
            'span',
            { class: 'conversion', 'data-testid': 'funnel-conversion' },
            step.kind === 'exit' ? `exit · ${pct(step.shareOfCustomers)} of customers` : step.conversion === null ? 'entry' : `${pct(step.conversion)} of previous`,
          ),
          el('span', { class: 'now' }, `${data.customersPerStage[step.stage] ?? 0} now`),
        ),
      ),
    );
    draw('funnel-chart', {
      type: 'bar',
      data: {
        labels: funnel.map((s) => [s.label, s.kind === 'exit' ? 'exit' : s.conversion === null ? 'entry' : `→ ${pct(s.conversion)}`]),
        datasets: [
          {
            label: 'Customers who ever reached the stage',
            data: funnel.map((s) => s.reached),
            backgroundColor: funnel.map((s) => (s.kind === 'exit' ? COLORS.exit : COLORS.step)),
            borderRadius: 4,
            maxBarThickness: 72,
          },
        ],
      },
      options: {
        layout: { padding: { top: 20 } },
        plugins: { legend: { display: false }, barValues: {} },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: false } } },
        onClick: (_event, elements) => {
          if (elements.length > 0) window.open(data.links.temporalUi[funnel[elements[0].index].stage], '_blank', 'noopener');
        },
      },
      plugins: [barValues],
    });
  }

  function renderRates(data) {
    const points = data.timeseries.points;
    draw('rates-chart', {
      type: 'line',
      data: {
        labels: points.map((p) => (data.timeseries.interval === 'week' ? `w/c ${shortDate(p.period)}` : shortDate(p.period))),
        datasets: RATES.map((rate) => ({
          label: rate.label,
          data: points.map((p) => p.rates[rate.key]),
          borderColor: COLORS[rate.key],
          backgroundColor: COLORS[rate.key],
          pointRadius: points.length > 60 ? 0 : points.length < 10 ? 5 : 3,
          tension: 0.2,
          spanGaps: true,
          clip: false,
        })),
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        layout: { padding: { top: 6 } },
        scales: {
          y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } },
          // A few points (a new journey) sit in the middle of their days rather than on the axis.
          x: { offset: points.length < 10, grid: { display: false }, ticks: { maxTicksLimit: 12 } },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: (items) => `as of ${new Date(points[items[0].dataIndex].asOf).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
              label: (item) => {
                const p = points[item.dataIndex];
                return `${RATES[item.datasetIndex].label}: ${pct(item.raw)} (${RATES[item.datasetIndex].detail(p)})`;
              },
            },
          },
        },
      },
    });
    const series = $('#rates');
    series.dataset.points = points.length;
    series.dataset.interval = data.timeseries.interval;
    const last = points[points.length - 1];
    for (const rate of RATES) series.dataset[`last${rate.key[0].toUpperCase()}${rate.key.slice(1)}`] = last && last.rates[rate.key] !== null ? last.rates[rate.key] : '';
    for (const button of document.querySelectorAll('[data-interval]')) button.setAttribute('aria-pressed', String(button.dataset.interval === interval));
  }

  function renderCampaigns(data) {
    const rows = data.campaigns.flatMap((c) => c.variants.map((v) => ({ campaignId: c.campaignId, ...v })));
    const held = (v) => v.variant === 'holdout';
    $('[data-testid="campaign-table"] tbody').replaceChildren(
      ...(rows.length === 0
        ? [el('tr', {}, el('td', { colspan: '11', class: 'empty' }, 'No campaign has sent anything yet.'))]
        : rows.map((v, i) =>
            el(
              'tr',
              {
                'data-testid': 'campaign-variant',
                class: `${held(v) ? 'holdout' : ''} ${i > 0 && rows[i - 1].campaignId === v.campaignId ? 'same-campaign' : ''}`.trim(),
                data: {
                  campaign: v.campaignId,
                  variant: v.variant,
                  sent: v.sent,
                  holdout: v.holdout,
                  converted: v.converted,
                  rate: v.conversionRate,
                  lift: v.lift,
                  delivered: v.delivered,
                  bounced: v.bounced,
                  opened: v.opened,
                  clicked: v.clicked,
                  openRate: v.openRate,
                  clickRate: v.clickRate,
                },
              },
              el('td', { class: 'campaign' }, i > 0 && rows[i - 1].campaignId === v.campaignId ? '' : v.campaignId),
              el('td', {}, v.variant),
              el('td', { class: 'num' }, held(v) ? '–' : count(v.sent)),
              el('td', { class: 'num' }, held(v) ? count(v.holdout) : '–'),
              el('td', { class: 'num' }, count(v.converted)),
              el('td', { class: 'num', 'data-testid': 'campaign-rate' }, pct(v.conversionRate)),
              el('td', { class: `num lift ${v.lift > 0 ? 'up' : v.lift < 0 ? 'down' : ''}`.trim(), 'data-testid': 'campaign-lift' }, signedPct(v.lift)),
              el('td', { class: 'num', 'data-testid': 'campaign-delivered', title: `${pct(v.deliveryRate)} of sent` }, held(v) ? '–' : count(v.delivered)),
              el('td', { class: 'num', 'data-testid': 'campaign-bounced' }, held(v) ? '–' : count(v.bounced)),
              el('td', { class: 'num', 'data-testid': 'campaign-opened', title: `${pct(v.openRate)} of delivered` }, held(v) ? '–' : count(v.opened)),
              el('td', { class: 'num', 'data-testid': 'campaign-clicked', title: `${pct(v.clickRate)} of delivered` }, held(v) ? '–' : count(v.clicked)),
            ),
          )),
    );
    // One band per campaign and variant, as tall as the table's rows beside it.
    $('#campaigns .chart').style.height = `${Math.max(220, 60 + rows.length * 34)}px`;
    draw('campaigns-chart', {
      type: 'bar',
      data: {
        labels: rows.map((v) => [v.campaignId, v.variant]),
        datasets: [
          { label: 'Sent', data: rows.map((v) => (held(v) ? null : v.sent)), backgroundColor: COLORS.sent, borderRadius: 3, skipNull: true },
          { label: 'Held out', data: rows.map((v) => (held(v) ? v.holdout : null)), backgroundColor: COLORS.heldOut, borderRadius: 3, skipNull: true },
          { label: 'Converted', data: rows.map((v) => v.converted), backgroundColor: COLORS.converted, borderRadius: 3, skipNull: true },
        ],
      },
      options: {
        indexAxis: 'y',
        layout: { padding: { right: 28 } },
        plugins: {
          legend: { position: 'top', align: 'end', labels: { boxWidth: 12 } },
          barValues: { skipZero: true },
          tooltip: { callbacks: { afterBody: (items) => { const v = rows[items[0].dataIndex]; return `Rate ${pct(v.conversionRate)} · lift ${signedPct(v.lift)}`; } } },
        },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } },
      },
      plugins: [barValues],
    });
  }

  // Experiments: one row per variant and group it is compared with (the holdout first), from GET /v1/kpis.
  function renderExperiments(data) {
    const range = (i, unit) => (i ? ` [${i.low}${unit}, ${i.high === null ? '∞' : `${i.high}${unit}`}]` : '');
    const signed = (v, unit) => (v === null || v === undefined ? '–' : `${v > 0 ? '+' : ''}${v}${unit}`);
    const rows = data.campaigns.flatMap((c) => c.variants.flatMap((v) => (v.comparisons || []).map((comparison, k) => ({ campaignId: c.campaignId, v, comparison, first: k === 0 }))));
    const minimum = rows.find((r) => r.comparison.minimumGroupSize)?.comparison.minimumGroupSize;
    if (minimum) $('[data-testid="experiment-minimum"]').textContent = String(minimum);
    $('[data-testid="experiment-table"] tbody').replaceChildren(
      ...(rows.length === 0
        ? [el('tr', {}, el('td', { colspan: '7', class: 'empty' }, 'No campaign runs an experiment yet.'))]
        : rows.map(({ campaignId, v, comparison: c, first }) =>
            el(
              'tr',
              {
                'data-testid': 'experiment-row',
                class: first ? '' : 'same-campaign',
                data: {
                  campaign: campaignId,
                  variant: v.variant,
                  against: c.against,
                  enoughData: String(c.enoughData),
                  probabilityToBeat: c.enoughData ? c.probabilityToBeat : '',
                },
              },
              el('td', { class: 'campaign' }, first ? campaignId : ''),
              el('td', {}, first ? v.variant : ''),
              el('td', { class: 'num' }, first ? `${pct(v.conversionRate)}${range(v.conversionRateInterval, '%')}` : ''),
              el('td', {}, c.against),
              ...(c.enoughData
                ? [
                    el('td', { class: 'num' }, `${signed(c.difference, ' pp')}${range(c.differenceInterval, ' pp')}`),
                    el('td', { class: `num lift ${c.liftInterval && c.liftInterval.low > 0 ? 'up' : c.liftInterval && c.liftInterval.high !== null && c.liftInterval.high < 0 ? 'down' : ''}`.trim() }, `${signed(c.lift, '%')}${range(c.liftInterval, '%')}`),
                    el('td', { class: 'num', 'data-testid': 'experiment-chance' }, `${Math.round(c.probabilityToBeat * 1000) / 10}%`),
                  ]
                : [el('td', { colspan: '3', class: 'num not-enough', 'data-testid': 'experiment-chance' }, `not enough data (under ${c.minimumGroupSize} in a group)`)]),
            ),
          )),
    );
  }

  /** Batch items refused in the last 24 hours (kept in the rejected store), with the most frequent reasons. */
  function renderRejected(data) {
    const card = $('[data-testid="rejected"]');
    const rejected = data.rejected;
    card.dataset.value = rejected ? rejected.count : '';
    $('.value', card).textContent = rejected ? count(rejected.count) : '–';
    $('.detail', card).textContent = !rejected
      ? 'no rejected store in this API'
      : rejected.topReasons.length === 0
        ? 'none: every call was applied'
        : `top: ${rejected.topReasons.map((r) => `${r.reason} (${count(r.count)})`).join(', ')} · GET /v1/rejected`;
  }

  function render(data) {
    $('[data-testid="generated-at"]').textContent = `as of ${new Date(data.generatedAt).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' })}`;
    document.body.dataset.generatedAt = data.generatedAt;
    renderCards(data);
    renderRejected(data);
    renderFunnel(data);
    renderRates(data);
    renderCampaigns(data);
    renderExperiments(data);
  }

  async function load() {
    document.body.dataset.state = 'loading';
    const problem = $('[data-testid="load-problem"]');
    try {
      const res = await fetch(`/dashboard/data?${new URLSearchParams({ interval })}`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (res.status === 401) {
        location.reload(); // the session ended: the page asks to sign in again
        return;
      }
      const body = await res.json();
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      render(body);
      problem.hidden = true;
      document.body.dataset.state = 'ready';
    } catch (err) {
      problem.textContent = `Could not load the KPIs: ${err.message}`;
      problem.hidden = false;
      document.body.dataset.state = 'error';
    }
  }

  $('#refresh').addEventListener('click', load);
  for (const button of document.querySelectorAll('[data-interval]')) {
    button.addEventListener('click', () => {
      interval = button.dataset.interval;
      load();
    });
  }
  load();
})();
