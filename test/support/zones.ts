import assert from 'node:assert/strict';
import { DateTime } from 'luxon';

/**
 * A zone where it is now between 10:00 and 18:00, so the definition's marketing window (09:00-20:00 in the
 * customer's zone) lets a broadcast go at once, whenever the test runs. The offsets cover every hour of the day.
 */
export function zoneInsideTheWindow(): string {
  const zones = [
    'UTC',
    'Europe/Berlin',
    'Asia/Dubai',
    'Asia/Kolkata',
    'Asia/Bangkok',
    'Asia/Tokyo',
    'Pacific/Auckland',
    'Pacific/Honolulu',
    'America/Los_Angeles',
    'America/Chicago',
    'America/New_York',
    'America/Sao_Paulo',
    'Atlantic/Azores',
  ];
  const zone = zones.find((z) => {
    const hour = DateTime.now().setZone(z).hour;
    return hour >= 10 && hour < 18;
  });
  assert.ok(zone, 'some zone has a local hour between 10 and 18');
  return zone;
}
