// When a record is written, as ISO 8601 text (Date.prototype.toISOString's). The text of
// the last millisecond asked for is kept: formatting costs some 0.4 µs, and at thousands
// of records a second most records share their millisecond with the one before.
let lastMs = Number.NaN;
let lastText = '';

export function isoTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== lastMs) {
    // Formatted first: an invalid date throws as toISOString does and is not remembered.
    lastText = d.toISOString();
    lastMs = ms;
  }
  return lastText;
}
