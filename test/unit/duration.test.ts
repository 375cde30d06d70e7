import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

describe('parseDuration', () => {
  test('reads durations written by people, singular or plural, any case, with or without a space', () => {
    const cases: Array<[string, number]> = [
      ['30 days', 30 * DAY],
      ['1 day', DAY],
      ['1 hour', HOUR],
      ['2 hours', 2 * HOUR],
      ['15 minutes', 15 * MINUTE],
      ['1 minute', MINUTE],
      ['45 seconds', 45 * SECOND],
      ['1 second', SECOND],
      ['250 ms', 250],
      ['250ms', 250],
      ['1 millisecond', 1],
      ['20 milliseconds', 20],
      ['2 weeks', 2 * WEEK],
      ['1 week', WEEK],
      ['1.5 hours', 1.5 * HOUR],
      ['3 Days', 3 * DAY],
      ['30days', 30 * DAY],
      ['  7 days  ', 7 * DAY],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  test('a leading minus makes the duration negative ("3 days before")', () => {
    assert.equal(parseDuration('-3 days'), -3 * DAY);
    assert.equal(parseDuration('- 1 hour'), -HOUR);
  });

  test('reads ISO 8601 durations in weeks, days, hours, minutes and seconds', () => {
    const cases: Array<[string, number]> = [
      ['P30D', 30 * DAY],
      ['P2W', 2 * WEEK],
      ['PT1H', HOUR],
      ['PT90M', 90 * MINUTE],
      ['PT1.5S', 1_500],
      ['P1DT12H', DAY + 12 * HOUR],
      ['P1W2DT3H4M5S', WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE + 5 * SECOND],
      ['-P3D', -3 * DAY],
      ['-PT1H', -HOUR],
      ['PT0S', 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  test('refuses months and years, whose length depends on the calendar', () => {
    for (const text of ['1 month', '2 months', '1 year', 'P1M', 'P1Y', 'P1Y2M']) assert.equal(parseDuration(text), undefined, text);
  });

  test('refuses text that is not a duration', () => {
    for (const text of ['', ' ', 'soon', '30', 'days', '3 fortnights', '+3 days', 'P', '-P', 'PT', 'P1DT', 'p30d', 'P1.5D', '3 days ago', '1 hour 30 minutes']) {
      assert.equal(parseDuration(text), undefined, JSON.stringify(text));
    }
  });
});

describe('formatDuration', () => {
  test('renders whole units the way a marketer reads them', () => {
    assert.equal(formatDuration(3 * DAY), '3 days');
    assert.equal(formatDuration(DAY), '1 day');
    assert.equal(formatDuration(HOUR), '1 hour');
    assert.equal(formatDuration(2 * MINUTE), '2 minutes');
    assert.equal(formatDuration(SECOND), '1 second');
    assert.equal(formatDuration(WEEK), '7 days');
  });

  test('keeps the two largest units', () => {
    assert.equal(formatDuration(HOUR + 30 * MINUTE), '1 hour 30 minutes');
    assert.equal(formatDuration(DAY + HOUR + MINUTE + SECOND), '1 day 1 hour');
    assert.equal(formatDuration(2 * DAY + 5 * MINUTE), '2 days 5 minutes');
  });

  test('zero, sub-second and negative durations', () => {
    assert.equal(formatDuration(0), '0 seconds');
    assert.equal(formatDuration(500), '500 ms');
    assert.equal(formatDuration(-3 * DAY), '-3 days');
    assert.equal(formatDuration(-(HOUR + 30 * MINUTE)), '-1 hour 30 minutes');
  });

  test('a single-unit duration survives format then parse', () => {
    for (const ms of [3 * DAY, DAY, HOUR, 5 * MINUTE, SECOND, -3 * DAY]) assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  });
});
