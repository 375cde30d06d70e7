import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import YAML from 'yaml';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { planFits, resumeJourney } from '../../src/core/resume-journey.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { COACHINGLIVE_PATH, DAY, T0, ev, tick } from './fixtures.js';

const raw = () => YAML.parse(readFileSync(COACHINGLIVE_PATH, 'utf8'));
const v1 = parseDefinition(raw()).plan;

function inTrialAtDay10() {
  let state = startJourney(v1, 'u1', T0).state;
  state = step(v1, state, ev('Trial Started', T0, { messageId: 't1' })).state;
  return step(v1, state, tick(T0 + 10 * DAY)).state;
}

test('continue-as-new under a new version: the journey adopts it, keeps its deadlines, records dropped steps as cancelled', () => {
  const changed = raw();
  changed.timers.find((t: { id: string }) => t.id === 'trial_end').after = '14 days';
  changed.campaigns = changed.campaigns.filter((c: { id: string }) => c.id !== 'trial_ending_7d');
  const v2 = parseDefinition(changed).plan;
  const carried = inTrialAtDay10();
  assert.ok(carried.deadlines.some((d) => d.kind === 'campaign' && d.campaignId === 'trial_ending_7d'));
  assert.ok(planFits(v2, carried));

  const resumed = resumeJourney(v2, carried, T0 + 10 * DAY);
  assert.deepEqual(resumed.definition, { id: 'coachinglive', version: v2.version });
  assert.equal(resumed.stats.runs, carried.stats.runs + 1);
  assert.ok(!resumed.deadlines.some((d) => d.kind === 'campaign' && d.campaignId === 'trial_ending_7d'));
  const dropped = resumed.messages.find((m) => m.campaignId === 'trial_ending_7d');
  assert.equal(dropped?.status, 'cancelled');
  assert.equal(dropped?.reason, `not in journey definition version ${v2.version}`);
  const trialEnd = (s: typeof carried) => s.deadlines.find((d) => d.kind === 'timer' && d.timerId === 'trial_end')!.at;
  assert.equal(trialEnd(resumed), trialEnd(carried), 'the trial the customer started keeps its end date');
  assert.equal(trialEnd(resumed), T0 + 30 * DAY);
});

test('the same version resumes unchanged but for the run count', () => {
  const carried = inTrialAtDay10();
  const resumed = resumeJourney(v1, carried, T0 + 10 * DAY);
  assert.deepEqual({ ...resumed, stats: { ...resumed.stats, runs: carried.stats.runs } }, carried);
});

test('a version without the customer\'s stage does not fit: the journey keeps the version it runs', () => {
  const carried = { ...inTrialAtDay10(), stage: 'lapsed' };
  assert.equal(planFits(v1, carried), true);
  const withoutLapsed = { ...v1, stages: v1.stages.filter((s) => s.id !== 'lapsed') };
  assert.equal(planFits(withoutLapsed, carried), false);
});
