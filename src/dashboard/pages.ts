/** The dashboard's two HTML pages. No inline script or style: the Content-Security-Policy forbids both. */

export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function layout(title: string, body: string, scripts: string[] = []): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
${scripts.map((src) => `<script defer src="${src}"></script>`).join('\n')}
</head>
${body}
</html>
`;
}

/** The sign-in form; `problem` says why the last attempt was refused. */
export function signInPage(journeyName: string, problem?: string): string {
  return layout(
    `Sign in · ${journeyName} dashboard`,
    `<body class="sign-in">
<main class="sign-in-card">
  <h1>${escapeHtml(journeyName)}</h1>
  <p class="subtitle">Marketing dashboard</p>
  <form method="post" action="/dashboard/session" data-testid="sign-in-form">
    <label for="key">API key <span class="hint">(scope customers:read)</span></label>
    <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required autofocus>
    ${problem ? `<p class="problem" role="alert" data-testid="sign-in-problem">${escapeHtml(problem)}</p>` : ''}
    <button type="submit">Sign in</button>
  </form>
  <p class="hint">With <code>npm start</code>, the development key is in <code>.data/dev-api-key</code>.</p>
</main>
</body>`,
  );
}

/** The dashboard's frame; dashboard.js fills it from GET /dashboard/data. */
export function dashboardPage(journeyName: string, signedIn: boolean): string {
  return layout(
    `${journeyName} · Marketing dashboard`,
    `<body class="dashboard" data-state="loading">
<header class="top">
  <div>
    <h1>${escapeHtml(journeyName)}</h1>
    <p class="subtitle">Marketing dashboard · <span data-testid="generated-at">loading…</span></p>
  </div>
  <nav class="actions">
    <a href="/dashboard/journey" class="nav-link" data-testid="journey-map-link">Journey map</a>
    <button type="button" id="refresh" data-testid="refresh">Refresh</button>
    ${signedIn ? '<form method="post" action="/dashboard/sign-out"><button type="submit" class="quiet" data-testid="sign-out">Sign out</button></form>' : ''}
  </nav>
</header>
<p class="problem banner" role="alert" data-testid="load-problem" hidden></p>
<main>
  <section class="cards" aria-label="Lifecycle rates now">
    <article class="card" data-testid="customers"><h2>Customers</h2><p class="value">–</p><p class="detail">journeys in the read model</p></article>
    <article class="card" data-testid="rate-activation"><h2>Activation</h2><p class="value">–</p><p class="detail"></p></article>
    <article class="card" data-testid="rate-repeatCustomer"><h2>Repeat customers</h2><p class="value">–</p><p class="detail"></p></article>
    <article class="card" data-testid="rate-loyalCustomer"><h2>Loyal customers</h2><p class="value">–</p><p class="detail"></p></article>
    <article class="card" data-testid="rejected"><h2>Refused calls (24 h)</h2><p class="value">–</p><p class="detail">GET /v1/rejected</p></article>
  </section>

  <section class="panel" id="funnel" aria-labelledby="funnel-title">
    <h2 id="funnel-title">Funnel</h2>
    <p class="explain">Customers who ever reached each stage, and the share of the previous step that got there. Stages after the loyal one are exits.</p>
    <div class="chart"><canvas id="funnel-chart" data-testid="funnel-chart" role="img" aria-label="Funnel bar chart"></canvas></div>
    <ol class="funnel-steps" data-testid="funnel-steps"></ol>
  </section>

  <section class="panel" id="rates" aria-labelledby="rates-title">
    <div class="panel-head">
      <h2 id="rates-title">Lifecycle rates over time</h2>
      <div class="toggle" role="group" aria-label="Interval">
        <button type="button" data-interval="day" aria-pressed="true">Daily</button>
        <button type="button" data-interval="week" aria-pressed="false">Weekly</button>
      </div>
    </div>
    <p class="explain">Each point is the rate as it stood at the end of the period (UTC).</p>
    <div class="chart"><canvas id="rates-chart" data-testid="rates-chart" role="img" aria-label="Line chart of the lifecycle rates"></canvas></div>
  </section>

  <section class="panel wide" id="campaigns" aria-labelledby="campaigns-title">
    <h2 id="campaigns-title">Campaigns and variants</h2>
    <p class="explain">Messages sent (or customers held out) and conversions to the campaign's goal; lift is the conversion rate over the holdout's. Delivered, bounced, opened and clicked are what SendGrid reported (its Event Webhook), each message once.</p>
    <div class="split">
      <div class="chart"><canvas id="campaigns-chart" data-testid="campaigns-chart" role="img" aria-label="Grouped bar chart of sends and conversions"></canvas></div>
      <div class="table-wrap">
        <table data-testid="campaign-table">
          <thead><tr><th scope="col">Campaign</th><th scope="col">Variant</th><th scope="col" class="num">Sent</th><th scope="col" class="num">Held out</th><th scope="col" class="num">Converted</th><th scope="col" class="num">Rate</th><th scope="col" class="num">Lift</th><th scope="col" class="num">Delivered</th><th scope="col" class="num">Bounced</th><th scope="col" class="num">Opened</th><th scope="col" class="num">Clicked</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </div>
  </section>

  <section class="panel wide" id="experiments" aria-labelledby="experiments-title">
    <h2 id="experiments-title">Experiments with confidence</h2>
    <p class="explain">Each variant against the holdout and against the other variants. Ranges are 95% intervals: Wilson for a rate, Newcombe's hybrid score for a difference (percentage points), MOVER-R for a lift. <em>Chance to beat</em> is the probability that the variant's true rate is the higher one (Beta-Binomial, uniform prior, computed exactly). Below <span data-testid="experiment-minimum">30</span> customers in either group it says "not enough data".</p>
    <div class="table-wrap">
      <table data-testid="experiment-table">
        <thead><tr><th scope="col">Campaign</th><th scope="col">Variant</th><th scope="col" class="num">Rate (95%)</th><th scope="col">Against</th><th scope="col" class="num">Difference (95%)</th><th scope="col" class="num">Lift (95%)</th><th scope="col" class="num">Chance to beat</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
</main>
</body>`,
    ['/dashboard/assets/chart.umd.js', '/dashboard/assets/dashboard.js'],
  );
}
