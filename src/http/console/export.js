// @ts-check
// Exports: fetched with the token, streamed with progress, then saved as a file.
import { call, query } from './api.js';
import { $, h } from './dom.js';
import { state } from './state.js';

/** @param {string} format jsonl | csv | eml */
export async function exportAs(format) {
  if (state.exportAbort) return;
  const controller = new AbortController();
  state.exportAbort = controller;
  const box = $('#export-box');
  const progress = $('#export-progress', HTMLProgressElement);
  const status = $('#export-status');
  box.hidden = false;
  progress.removeAttribute('value');
  $('#export-label').textContent = `Export ${format.toUpperCase()}`;
  status.textContent = 'Starting…';
  try {
    const res = await call(`/audit/export?${query({ ...state.filter, format })}`, {
      signal: controller.signal,
    });
    if (!res.ok || !res.body) {
      const data = await res.json().catch(() => null);
      throw new Error(data?.message ?? `export refused (${res.status})`);
    }
    const name =
      /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ??
      `parley-audit.${format}`;
    const reader = res.body.getReader();
    /** @type {Uint8Array<ArrayBuffer>[]} */
    const chunks = [];
    let bytes = 0;
    let lines = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
      for (const b of value) if (b === 10) lines += 1;
      status.textContent = `${(bytes / 1024).toFixed(1)} KB, ${lines} lines received…`;
    }
    progress.max = 1;
    progress.value = 1;
    const blob = new Blob(chunks, { type: res.headers.get('content-type') ?? 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    const count = format === 'csv' ? Math.max(0, lines - 1) : format === 'jsonl' ? lines : null;
    status.textContent = `Saved ${name} (${(bytes / 1024).toFixed(1)} KB${count !== null ? `, ${count} records` : ''}). The export is recorded in the trail.`;
  } catch (e) {
    progress.max = 1;
    progress.value = 0;
    status.textContent = controller.signal.aborted
      ? 'Export cancelled.'
      : `Export failed: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    state.exportAbort = null;
  }
}
