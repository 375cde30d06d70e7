import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { JourneyDefinition, type JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { validateDefinitionGraph, type Violation } from '../../src/core/validate-definition.js';
import { DefinitionError, loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import { COACHINGLIVE_PATH, DAY, minimalDefinition } from './fixtures.js';

/** The violations parseDefinition reports for `raw`; fails the test when it accepts it. */
function violationsOf(raw: unknown): Violation[] {
  try {
    parseDefinition(raw, 'test');
  } catch (err) {
    assert.ok(err instanceof DefinitionError, `expected a DefinitionError, got ${String(err)}`);
    return err.violations;
  }
  assert.fail('expected the definition to be refused');
}

function hasViolation(violations: Violation[], path: string, message: RegExp): boolean {
  return violations.some((v) => v.path === path && message.test(v.message));
}

function assertViolation(violations: Violation[], path: string, message: RegExp): void {
  assert.ok(hasViolation(violations, path, message), `expected ${path}: ${message} among\n${JSON.stringify(violations, null, 2)}`);
}

async function coachingliveRaw(): Promise<JourneyDefinitionInput> {
  return YAML.parse(await readFile(COACHINGLIVE_PATH, 'utf8')) as JourneyDefinitionInput;
}

describe('JourneyDefinition schema', () => {
  test('a minimal definition parses with defaults filled in', () => {
    const def = JourneyDefinition.parse(minimalDefinition());
    assert.equal(def.defaultLocale, 'en');
    assert.deepEqual(def.attributes, []);
    assert.deepEqual(def.timers, []);
    assert.deepEqual(def.segments, []);
    const campaign = def.campaigns[0]!;
    assert.equal(campaign.delay, 0);
    assert.deepEqual(campaign.audience, {});
    assert.deepEqual(campaign.exitOn, { events: [], stageChange: false });
    assert.equal(campaign.message.channel, 'email');
  });

  test('durations are carried as milliseconds after parsing', () => {
    const def = JourneyDefinition.parse(
      minimalDefinition({
        timers: [{ id: 'wait', summary: 'wait is over', after: 'P30D', anchor: 'stageEntry', whileIn: ['lead'] }],
        campaigns: [
          {
            id: 'hello',
            name: 'Hello',
            kind: 'marketing',
            trigger: { timer: 'wait', offset: '-3 days' },
            delay: '1 hour',
            goal: { event: 'Bought', within: '7 days' },
            message: { template: 'hello' },
          },
          { id: 'again', name: 'Again', kind: 'marketing', trigger: { timer: 'wait' }, message: { template: 'hello' } },
        ],
      }),
    );
    assert.equal(def.timers[0]!.after, 30 * DAY);
    const [hello, again] = def.campaigns;
    assert.deepEqual(hello!.trigger, [{ kind: 'timer', timer: 'wait', offset: -3 * DAY }]);
    assert.equal(hello!.delay, 3_600_000);
    assert.equal(hello!.goal!.within, 7 * DAY);
    assert.deepEqual(again!.trigger, [{ kind: 'timer', timer: 'wait', offset: 0 }], 'a timer trigger without offset fires at the timer');
  });

  test('refuses bad duration text, months, and durations that must be positive or non-negative', () => {
    const violations = violationsOf(
      minimalDefinition({
        timers: [
          { id: 'a', summary: 'a', after: 'soon', anchor: 'stageEntry', whileIn: ['lead'] },
          { id: 'b', summary: 'b', after: '1 month', anchor: 'stageEntry', whileIn: ['lead'] },
          { id: 'c', summary: 'c', after: '0 days', anchor: 'stageEntry', whileIn: ['lead'] },
        ],
        campaigns: [
          { id: 'hello', name: 'Hello', kind: 'marketing', trigger: { event: 'Signed Up' }, delay: '-1 day', message: { template: 'hello' } },
          { id: 'later', name: 'Later', kind: 'marketing', trigger: { event: 'Signed Up' }, goal: { event: 'Bought', within: 'whenever' }, message: { template: 'hello' } },
          { id: 'offset', name: 'Offset', kind: 'marketing', trigger: { timer: 'a', offset: 'three days' }, message: { template: 'hello' } },
        ],
      }),
    );
    assertViolation(violations, 'timers.0.after', /"soon" is not a duration/);
    assertViolation(violations, 'timers.1.after', /"1 month" is not a duration/);
    assertViolation(violations, 'timers.2.after', /longer than zero/);
    assertViolation(violations, 'campaigns.0.delay', /must not be negative/);
    assertViolation(violations, 'campaigns.1.goal.within', /"whenever" is not a duration/);
    assert.ok(violations.some((v) => v.path.startsWith('campaigns.2.trigger')), 'a bad trigger offset is reported on the trigger');
    assert.equal(violations.filter((v) => v.path === 'timers.0.after').length, 1, 'a bad duration is reported once, not also as "not positive"');
  });

  test('refuses forbidden segment operators, however deeply nested', () => {
    const violations = violationsOf(
      minimalDefinition({
        segments: [
          { id: 'top', filter: { $where: 'this.a > 1' } },
          { id: 'nested', filter: { $and: [{ email: { $exists: true } }, { $or: [{ $where: 'sleep(1000)' }] }] } },
          { id: 'deep', filter: { score: { $gt: { $function: { body: 'x', args: [], lang: 'js' } } } } },
          { id: 'expr', filter: { $expr: { $gt: ['$a', '$b'] } } },
          { id: 'acc', filter: { a: { b: { $accumulator: {} } } } },
          { id: 'fine', filter: { email: { $exists: true }, plan: { $in: ['light', 'full'] }, $or: [{ a: 1 }, { b: { $ne: null } }] } },
        ],
      }),
    );
    assertViolation(violations, 'segments.0.filter', /operator at \$where /);
    assertViolation(violations, 'segments.1.filter', /operator at \$and\.1\.\$or\.0\.\$where /);
    assertViolation(violations, 'segments.2.filter', /operator at score\.\$gt\.\$function /);
    assertViolation(violations, 'segments.3.filter', /operator at \$expr /);
    assertViolation(violations, 'segments.4.filter', /operator at a\.b\.\$accumulator /);
    assert.ok(!violations.some((v) => v.path.startsWith('segments.5')), 'ordinary query operators are allowed');
    assert.equal(violations.length, 5);
  });

  test('refuses operators the in-process matcher and MongoDB may not agree on, naming the ones allowed', () => {
    const violations = violationsOf(
      minimalDefinition({
        segments: [
          { id: 'typed', filter: { age: { $type: 'number' } } },
          { id: 'text', filter: { $text: { $search: 'coach' } } },
          { id: 'mod', filter: { n: { $mod: [2, 0] } } },
        ],
      }),
    );
    assertViolation(violations, 'segments.0.filter', /operator at age\.\$type is not supported in a segment \(use one of \$eq, /);
    assertViolation(violations, 'segments.1.filter', /operator at \$text is not supported/);
    assertViolation(violations, 'segments.2.filter', /operator at n\.\$mod is not supported/);
    assertViolation(violations, 'segments.1.filter', /operator at \$text\.\$search is not supported/);
    assert.equal(violations.length, 4);
  });

  test('refuses bad ids, unknown keys and missing fields, reporting them together', () => {
    const violations = violationsOf({
      ...minimalDefinition(),
      id: 'Mini-Journey',
      stages: [{ id: 'lead', colour: 'blue' }, { id: '2nd' }],
      campaigns: [{ id: 'hello', kind: 'sms', trigger: { event: 'Signed Up' }, message: { template: 'hello' } }],
    });
    assertViolation(violations, 'id', /lower-case letters/);
    assert.ok(violations.some((v) => v.path.startsWith('stages.0')), 'unknown key "colour" is refused');
    assertViolation(violations, 'stages.1.id', /lower-case letters/);
    assert.ok(violations.some((v) => v.path === 'campaigns.0.name'), 'a missing name is reported');
    assert.ok(violations.some((v) => v.path === 'campaigns.0.kind'), 'an unknown kind is reported');
  });
});

describe('validateDefinitionGraph', () => {
  test('the shipped coachinglive definition has no violations', async () => {
    const def = JourneyDefinition.parse(await coachingliveRaw());
    assert.deepEqual(validateDefinitionGraph(def), []);
  });

  test('reports every violation at once', () => {
    const violations = violationsOf({
      id: 'broken',
      name: 'Broken',
      initialStage: 'lead',
      stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'island' }, { id: 'lead' }],
      timers: [
        { id: 'nudge', summary: 'nudge', after: '1 day', anchor: 'stageEntry', whileIn: ['lead', 'limbo'] },
        { id: 'nudge', summary: 'nudge again', after: '2 days', anchor: 'stageEntry', whileIn: ['lead'] },
      ],
      transitions: [
        { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
        { from: ['lead'], on: { event: 'Vanished' }, to: 'nowhere' },
        { from: ['ghost'], on: { event: 'Boo' }, to: 'lead' },
        { from: ['lead'], on: { timer: 'no_such_timer' }, to: 'customer' },
      ],
      segments: [{ id: 'all', filter: {} }],
      campaigns: [
        { id: 'hello', name: 'Hello', kind: 'marketing', trigger: { stageEntry: 'limbo' }, audience: { stages: ['purgatory'], segments: ['all', 'vip'] }, message: { template: 'missing' } },
        { id: 'hello', name: 'Hello again', kind: 'marketing', trigger: { timer: 'late' }, message: { template: 'hello' } },
      ],
      templates: [{ id: 'hello', locales: { de: { subject: 'Hallo', html: '<p>Hallo</p>' } } }],
    });
    const expected: Array<[string, RegExp]> = [
      ['stages', /"lead" is declared more than once/],
      ['timers', /"nudge" is declared more than once/],
      ['campaigns', /"hello" is declared more than once/],
      ['timers[0].whileIn[1]', /unknown stage "limbo"/],
      ['transitions[1].to', /unknown stage "nowhere"/],
      ['transitions[2].from[0]', /unknown stage "ghost"/],
      ['transitions[3].on.timer', /unknown timer "no_such_timer"/],
      ['campaigns[0].trigger[0].stageEntry', /unknown stage "limbo"/],
      ['campaigns[0].audience.stages[0]', /unknown stage "purgatory"/],
      ['campaigns[0].audience.segments[1]', /unknown segment "vip"/],
      ['campaigns[0].message.template', /unknown template "missing"/],
      ['campaigns[1].trigger[0].timer', /unknown timer "late"/],
      ['templates[0].locales', /template "hello" has no "en" version/],
      ['stages[2]', /stage "island" cannot be reached from "lead"/],
    ];
    for (const [path, message] of expected) assertViolation(violations, path, message);
    assert.equal(violations.length, expected.length, JSON.stringify(violations, null, 2));
  });

  test('an unknown initial stage, attribute clearOnStages or timer whileIn is reported', () => {
    const violations = violationsOf(
      minimalDefinition({
        initialStage: 'visitor',
        transitions: [{ from: '*', on: { event: 'Bought' }, to: 'customer' }],
        attributes: [{ id: 'plan', setFrom: [{ event: 'Bought', property: 'plan' }], clearOnStages: ['gone'] }],
        timers: [{ id: 'wait', summary: 'wait', after: '1 day', anchor: 'lastActivity', whileIn: ['away'] }],
      }),
    );
    assertViolation(violations, 'initialStage', /unknown stage "visitor"/);
    assertViolation(violations, 'attributes[0].clearOnStages[0]', /unknown stage "gone"/);
    assertViolation(violations, 'timers[0].whileIn[0]', /unknown stage "away"/);
  });

  test('a timer transition from stages where the timer is never armed is reported', () => {
    const violations = violationsOf(
      minimalDefinition({
        stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'lapsed' }],
        timers: [{ id: 'renewal', summary: 'renewal due', after: '365 days', anchor: 'stageEntry', whileIn: ['customer'] }],
        transitions: [
          { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
          { from: ['lead'], on: { timer: 'renewal' }, to: 'lapsed' },
        ],
      }),
    );
    assertViolation(violations, 'transitions[1]', /timer "renewal" is never armed in any of the "from" stages/);
    assert.equal(violations.length, 1);
  });

  test('reachability follows event and timer transitions and "*", and "@previous" reaches nothing new', () => {
    const base = minimalDefinition({
      stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'lapsed' }, { id: 'paused' }, { id: 'only_back' }],
      timers: [{ id: 'renewal', summary: 'renewal due', after: '365 days', anchor: 'stageEntry', whileIn: ['customer'] }],
      transitions: [
        { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
        { from: ['customer'], on: { timer: 'renewal' }, to: 'lapsed' },
        { from: '*', on: { event: 'Paused' }, to: 'paused' },
        { from: ['paused'], on: { event: 'Resumed' }, to: '@previous' },
        { from: ['only_back'], on: { event: 'Anything' }, to: 'lead' },
      ],
    });
    const violations = violationsOf(base);
    assert.deepEqual(violations, [{ path: 'stages[4]', message: 'stage "only_back" cannot be reached from "lead"' }]);
  });

  test('a template missing the default locale is reported, whichever the default locale is', () => {
    const withDe = minimalDefinition({ defaultLocale: 'de' });
    assertViolation(violationsOf(withDe), 'templates[0].locales', /template "hello" has no "de" version \(the default locale\)/);
    const extraLocale = minimalDefinition({
      templates: [{ id: 'hello', locales: { en: { subject: 'Hi', html: 'x' }, 'pt-BR': { subject: 'Oi', html: 'x' } } }],
    });
    assert.doesNotThrow(() => parseDefinition(extraLocale));
  });
});

describe('parseDefinition and loadDefinitionFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'journey-def-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the shipped coachinglive.yaml loads: plan without templates, durations in ms, a 12-hex version', async () => {
    const loaded = await loadDefinitionFile(COACHINGLIVE_PATH);
    assert.equal(loaded.definition.id, 'coachinglive');
    assert.match(loaded.version, /^[0-9a-f]{12}$/);
    assert.equal(loaded.plan.version, loaded.version);
    assert.ok(!('templates' in loaded.plan), 'message bodies stay out of the plan');
    assert.ok(loaded.definition.templates.length >= 20, 'a template for every campaign');
    assert.deepEqual(loaded.plan.stages.map((s) => s.id), ['prospect', 'trial', 'subscriber', 'loyal', 'lapsed', 'churned']);
    assert.equal(loaded.plan.initialStage, 'prospect');
    assert.equal(loaded.plan.timers.find((t) => t.id === 'trial_end')!.after, 30 * DAY);
    const reminder = loaded.plan.campaigns.find((c) => c.id === 'trial_ending_7d')!;
    assert.deepEqual(reminder.trigger, [{ kind: 'timer', timer: 'trial_end', offset: -7 * DAY }]);
    assert.equal(reminder.goal!.within, 7 * DAY);
  });

  test('the version is stable for the same content and changes with the content', async () => {
    const raw = await coachingliveRaw();
    const a = parseDefinition(raw).version;
    assert.equal(parseDefinition(structuredClone(raw)).version, a, 'same content, same version');
    assert.equal((await loadDefinitionFile(COACHINGLIVE_PATH)).version, a, 'file and data agree');

    const reordered = Object.fromEntries(Object.entries(structuredClone(raw)).reverse()) as JourneyDefinitionInput;
    assert.equal(parseDefinition(reordered).version, a, 'key order does not matter');

    const longerTrial = structuredClone(raw);
    longerTrial.timers![0]!.after = '31 days';
    assert.notEqual(parseDefinition(longerTrial).version, a, 'a structural change is a new version');

    const newCopy = structuredClone(raw);
    newCopy.templates![0]!.locales.en!.subject = 'Welcome aboard!';
    assert.notEqual(parseDefinition(newCopy).version, a, 'a template change is a new version');
  });

  test('templates that Liquid cannot parse are reported with their path, together with graph violations', () => {
    const violations = violationsOf(
      minimalDefinition({
        stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'island' }],
        templates: [
          {
            id: 'hello',
            locales: {
              en: { subject: 'Hi {{ profile.firstName', html: '{% if profile.vip %}<p>VIP</p>', text: 'Hi {{ profile.firstName | shout }}' },
              de: { subject: 'Hallo {{ profile.firstName | default: "du" }}', html: '<p>Hallo</p>' },
            },
          },
        ],
      }),
    );
    assertViolation(violations, 'templates[0].locales.en.subject', /^Liquid does not parse: /);
    assertViolation(violations, 'templates[0].locales.en.html', /^Liquid does not parse: /);
    assertViolation(violations, 'templates[0].locales.en.text', /^Liquid does not parse: .*shout/);
    assertViolation(violations, 'stages[2]', /cannot be reached/);
    assert.equal(violations.length, 4, JSON.stringify(violations, null, 2));
    assert.ok(violations.every((v) => !v.message.includes('\n')), 'one line per violation');
  });

  test('DefinitionError names the source and lists every violation', async () => {
    const path = join(dir, 'broken.yaml');
    await writeFile(path, YAML.stringify(minimalDefinition({ initialStage: 'nobody', campaigns: [] })));
    await assert.rejects(loadDefinitionFile(path), (err: unknown) => {
      assert.ok(err instanceof DefinitionError);
      assert.equal(err.source, path);
      assert.ok(err.message.includes(path));
      assert.ok(err.message.includes('initialStage: unknown stage "nobody"'));
      assert.ok(err.message.includes('stages[0]: stage "lead" cannot be reached from "nobody"'));
      return true;
    });
  });

  test('a file that is not YAML is refused as a DefinitionError; JSON files load too', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'id: [unclosed\n  name: x: y\n');
    await assert.rejects(loadDefinitionFile(bad), (err: unknown) => {
      assert.ok(err instanceof DefinitionError);
      assert.equal(err.violations.length, 1);
      assert.match(err.violations[0]!.message, /^not valid YAML\/JSON: /);
      return true;
    });
    const json = join(dir, 'mini.json');
    await writeFile(json, JSON.stringify(minimalDefinition()));
    const loaded = await loadDefinitionFile(json);
    assert.equal(loaded.version, parseDefinition(minimalDefinition()).version);
  });
});
