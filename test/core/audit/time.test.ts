import t from 'tap';
import { isoTime } from '../../../src/core/audit/time.js';

t.test('isoTime is toISOString, also for the millisecond it remembers', async (t) => {
  const times = [0, 1, 1, 1_765_000_000_000, 1_765_000_000_000, 1_765_000_000_001, -1, 8.64e15, 1];
  for (const ms of times) t.equal(isoTime(new Date(ms)), new Date(ms).toISOString(), String(ms));
});

t.test('an invalid date throws as toISOString does, and is not remembered', async (t) => {
  t.equal(isoTime(new Date(5)), '1970-01-01T00:00:00.005Z');
  t.throws(() => isoTime(new Date(Number.NaN)), RangeError);
  t.throws(() => isoTime(new Date(Number.NaN)), RangeError, 'again');
  t.equal(isoTime(new Date(5)), '1970-01-01T00:00:00.005Z');
});
