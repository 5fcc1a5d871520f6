import { describe, expect, it } from 'vitest';
import { ClickEvent } from '../../contracts/clickstream';
import { compileInputValidator } from '../../contracts/compiled-validator';

const isClickInput = compileInputValidator(ClickEvent);
const valid = { eventId: 'e1', url: '/a', userId: 'u1', timestamp: 1_767_225_600_000 };

describe('compileInputValidator(ClickEvent) agrees with the zod contract', () => {
  it.each([
    ['epoch milliseconds', valid],
    ['ISO-8601 in UTC', { ...valid, timestamp: '2026-01-01T00:00:00Z' }],
    ['ISO-8601 with fractions and an offset', { ...valid, timestamp: '2026-01-01T00:00:00.123+02:00' }],
    ['extra fields', { ...valid, referrer: '/home' }],
    ['ISO-8601 without a zone', { ...valid, timestamp: '2026-01-01T00:00:00' }],
    ['a date only', { ...valid, timestamp: '2026-01-01' }],
    ['February 30th', { ...valid, timestamp: '2026-02-30T00:00:00Z' }],
    ['a fractional epoch', { ...valid, timestamp: 1.5 }],
    ['a negative epoch', { ...valid, timestamp: -1 }],
    ['an epoch beyond the Date range', { ...valid, timestamp: 8.64e15 + 1 }],
    ['an empty eventId', { ...valid, eventId: '' }],
    ['a 129-character userId', { ...valid, userId: 'u'.repeat(129) }],
    ['a 2049-character url', { ...valid, url: `/${'x'.repeat(2048)}` }],
    ['a missing url', { eventId: 'e1', userId: 'u1', timestamp: 1 }],
    ['a numeric eventId', { ...valid, eventId: 7 }],
    ['null', null],
    ['an array', [valid]],
    ['a string', 'click'],
  ])('%s', (_name, input) => {
    expect(isClickInput(input)).toBe(ClickEvent.safeParse(input).success);
  });
});
