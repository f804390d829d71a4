// Human durations, as the C++ ParseDurationMs (shared/include/taskmill/shared/duration.h): a
// whole number and one unit, ms, s, m or h ('250ms', '30s', '5m', '2h'), from 1 ms to 365 days.
// No spaces, sign, fractions or mixed units.

export const MAX_DURATION_MS = 365 * 24 * 3600 * 1000;
const UNITS = {ms: 1, s: 1000, m: 60_000, h: 3_600_000};
const ALLOWED = 'expected a whole number and a unit: ms, s, m or h (e.g. 250ms, 30s, 5m, 2h), ' +
    'from 1ms to 365 days';

// Milliseconds of `text`; a number is taken as milliseconds already. Throws a TypeError
// naming `what` and what is allowed.
export function parseDuration(text, what = 'duration') {
  let ms;
  if (typeof text === 'number') {
    ms = text;
  } else {
    const m = typeof text === 'string' ? /^([0-9]{1,12})(ms|s|m|h)$/.exec(text) : null;
    if (!m) throw new TypeError(`${what}: '${String(text).slice(0, 32)}' is not a duration; ${ALLOWED}`);
    ms = Number(m[1]) * UNITS[m[2]];
  }
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_DURATION_MS) {
    throw new TypeError(`${what}: '${text}' is out of range; ${ALLOWED}`);
  }
  return ms;
}
