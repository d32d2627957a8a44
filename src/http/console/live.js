// @ts-check
// Live view: server-sent events read with fetch (EventSource cannot send the token); new
// records join the newest page as they come.
import { call, query } from './api.js';
import { $ } from './dom.js';
import { sortRows } from './present.js';
import { PAGE_SIZE, state } from './state.js';
import { renderRows } from './traffic-rows.js';
/** @import { AuditRecord } from './types.js' */

export function stopLive() {
  state.live?.abort();
  state.live = null;
  $('#live-status').textContent = '';
}

export function startLive() {
  stopLive();
  const controller = new AbortController();
  state.live = controller;
  const top = Math.max(0, ...[...state.records.keys()]);
  let after = top;
  const status = $('#live-status');
  let received = 0;
  const connect = async () => {
    while (!controller.signal.aborted) {
      try {
        const res = await call(`/audit/stream?${query({ ...state.filter, after })}`, {
          signal: controller.signal,
        });
        if (!res.ok || !res.body) throw new Error(`live stream refused (${res.status})`);
        status.textContent = 'Live: connected';
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            /** @type {Record<string, string>} */
            const ev = { event: 'message', data: '' };
            for (const line of block.split('\n')) {
              const m = /^(event|data|id): ?(.*)$/.exec(line);
              if (m?.[1]) ev[m[1]] = m[1] === 'data' ? ev.data + (m[2] ?? '') : (m[2] ?? '');
            }
            if (ev.event === 'record' && ev.data) {
              /** @type {AuditRecord} */
              const r = JSON.parse(ev.data);
              after = Math.max(after, r.seq);
              received += 1;
              showLive(r);
              status.textContent = `Live: connected, ${received} new record(s)`;
            }
            i = buf.indexOf('\n\n');
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        status.textContent = `Live: reconnecting (${e instanceof Error ? e.message : String(e)})`;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  connect();
}

/** @param {AuditRecord} r */
function showLive(r) {
  // Only the newest page shows new records as they come.
  if (state.pages.length !== 1) return;
  state.records.set(r.seq, r);
  // A later outcome joins its decision's row when that row is shown.
  const decision =
    r.category === 'outcome'
      ? state.rows.find((x) => x.category === 'decision' && x.eventId === r.eventId && x.seq < r.seq)
      : undefined;
  if (decision) {
    if (!decision.outcomeRecord || decision.outcomeRecord.seq < r.seq) decision.outcomeRecord = r;
    state.folded += 1;
    state.fresh.add(decision.seq);
  } else {
    state.rows.unshift(r);
    state.fresh.add(r.seq);
    // Keep the page bounded: drop the oldest rows (by seq) beyond four pages.
    if (state.rows.length > PAGE_SIZE * 4) state.rows = sortRows(state.rows, 'seq').slice(0, PAGE_SIZE * 4);
  }
  renderRows();
}
