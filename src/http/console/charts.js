// @ts-check
// Stacked bar charts drawn as inline SVG (no library): decisions over time, by decision and
// by network. Each chart comes with a legend and a data table for screen readers.

/**
 * @typedef {{ start: number; counts: Record<string, number> }} Bucket
 * @typedef {{ step: number; buckets: Bucket[] }} Buckets
 * @typedef {{ key: string; label: string; color: string }} Series
 */

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {string} name
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
const el = (name, attrs = {}, text) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};

/** Bucket widths (ms), smallest first. */
const STEPS = [
  1_000,
  10_000,
  60_000,
  5 * 60_000,
  15 * 60_000,
  3_600_000,
  6 * 3_600_000,
  86_400_000,
  7 * 86_400_000,
  30 * 86_400_000,
];

/**
 * Group records into at most `maxBuckets` time buckets. `keyOf(record)` names the series;
 * `offsetMs` (east of UTC) aligns the buckets with whole hours/days of the zone shown.
 * Returns { step, buckets: [{ start, counts: {key: n} }] } oldest first.
 * @template {{ time: string }} R
 * @param {R[]} records
 * @param {(record: R) => string} keyOf
 * @returns {Buckets}
 */
export function bucketize(records, keyOf, maxBuckets = 40, offsetMs = 0) {
  const times = records.map((r) => Date.parse(r.time)).filter((t) => !Number.isNaN(t));
  const smallest = STEPS[0] ?? 1_000;
  if (times.length === 0) return { step: smallest, buckets: [] };
  const min = Math.min(...times);
  const max = Math.max(...times);
  const step = STEPS.find((s) => (max - min) / s < maxBuckets) ?? STEPS[STEPS.length - 1] ?? smallest;
  const first = Math.floor((min + offsetMs) / step) * step - offsetMs;
  const n = Math.floor((max - first) / step) + 1;
  /** @type {Bucket[]} */
  const buckets = Array.from({ length: n }, (_, i) => ({ start: first + i * step, counts: {} }));
  for (const r of records) {
    const t = Date.parse(r.time);
    if (Number.isNaN(t)) continue;
    const b = buckets[Math.floor((t - first) / step)];
    if (!b) continue;
    const k = keyOf(r);
    b.counts[k] = (b.counts[k] ?? 0) + 1;
  }
  return { step, buckets };
}

/**
 * @param {number} t
 * @param {number} step
 */
const utcTime = (t, step) => {
  const iso = new Date(t).toISOString();
  if (step >= 86_400_000) return iso.slice(0, 10);
  if (step < 60_000) return `${iso.slice(11, 19)}Z`;
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}Z`;
};

/**
 * A stacked bar chart as a <figure>: `series` is [{ key, label, color }], `data` what
 * bucketize returned, `fmtTime(t, step)` an interval's label (default: UTC).
 * @param {{
 *   title: string;
 *   series: Series[];
 *   data: Buckets;
 *   testid?: string;
 *   fmtTime?: (t: number, step: number) => string;
 * }} chart
 * @returns {HTMLElement}
 */
export function stackedBarChart({ title, series, data, testid, fmtTime = utcTime }) {
  const figure = document.createElement('figure');
  figure.className = 'chart';
  if (testid) figure.dataset.testid = testid;
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(caption);

  const W = 640;
  const H = 220;
  const pad = { l: 40, r: 8, t: 10, b: 36 };
  const { buckets, step } = data;
  const totals = buckets.map((b) => series.reduce((s, x) => s + (b.counts[x.key] ?? 0), 0));
  const maxTotal = Math.max(1, ...totals);
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `${title}: ${totals.reduce((a, b) => a + b, 0)} records in ${buckets.length} intervals`,
    class: 'chart-svg',
  });
  const plotW = W - pad.l - pad.r;
  const plotH = H - pad.t - pad.b;
  // Axis and grid.
  for (const f of [0, 0.5, 1]) {
    const y = pad.t + plotH * (1 - f);
    svg.append(el('line', { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: 'grid' }));
    svg.append(
      el(
        'text',
        { x: pad.l - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' },
        String(Math.round(maxTotal * f)),
      ),
    );
  }
  const bw = buckets.length ? plotW / buckets.length : plotW;
  buckets.forEach((b, i) => {
    let y = pad.t + plotH;
    const x = pad.l + i * bw + bw * 0.1;
    for (const s of series) {
      const n = b.counts[s.key] ?? 0;
      if (n === 0) continue;
      const h = (n / maxTotal) * plotH;
      y -= h;
      const rect = el('rect', { x, y, width: Math.max(1, bw * 0.8), height: h, fill: s.color, class: 'bar' });
      rect.append(el('title', {}, `${fmtTime(b.start, step)}: ${n} ${s.label}`));
      svg.append(rect);
    }
  });
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 6));
  buckets.forEach((b, i) => {
    if (i % labelEvery !== 0) return;
    svg.append(
      el(
        'text',
        { x: pad.l + i * bw + bw / 2, y: H - pad.b + 16, 'text-anchor': 'middle', class: 'axis' },
        fmtTime(b.start, step),
      ),
    );
  });
  figure.append(svg);

  const legend = document.createElement('ul');
  legend.className = 'legend';
  for (const s of series) {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = s.color;
    const total = buckets.reduce((a, b) => a + (b.counts[s.key] ?? 0), 0);
    li.append(swatch, ` ${s.label}: ${total}`);
    legend.append(li);
  }
  figure.append(legend);

  // The same numbers as a table, for screen readers and for copying.
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = 'Data table';
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const h of ['Interval start', ...series.map((s) => s.label)]) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const b of buckets) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = fmtTime(b.start, step);
    row.append(th);
    for (const s of series) row.insertCell().textContent = String(b.counts[s.key] ?? 0);
  }
  details.append(summary, table);
  figure.append(details);
  return figure;
}
