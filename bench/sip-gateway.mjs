// Parley for bench:sip, in a process of its own as `parley start` runs it: the compiled
// dist/ on plain node (src/ through tsx with --source). bench/sip.ts forks it with the
// config file's path and talks to it over the IPC channel:
//   -> { type: 'watch' }                 start measuring this process (a step begins)
//   <- { type: 'watching' }
//   -> { type: 'stats', messages }       stop measuring; per-MESSAGE figures for the step
//   <- { type: 'stats', stats }
//   -> { type: 'finish' }                flush and verify the audit trail, stop, exit
//   <- { type: 'finished', records, auditOk }
// (Plain JavaScript so that no TypeScript loader runs in Parley's process.)
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const source = process.argv.includes('--source');
const mod = (path) =>
  import(new URL(source ? `../src/${path}.ts` : `../dist/${path}.js`, import.meta.url).href);
const [{ parseConfig }, { startGateway }, { verifyLog }, { silentLogger }] = await Promise.all([
  mod('config'),
  mod('gateway'),
  mod('core/audit/verify'),
  mod('core/logger'),
]);

const configPath = process.argv[2];
const gw = await startGateway(parseConfig(readFileSync(configPath, 'utf8'), configPath), {
  logger: silentLogger,
  http: false,
  watchPolicy: false,
});

/**
 * What happens in this process during a step: CPU per MESSAGE (all threads), the event
 * loop's utilisation and time per MESSAGE, event-loop delay and GC pauses — to tell
 * Parley's own stalls from the machine's noise.
 */
function watchProcess() {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const gc = [];
  let majors = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.push(e.duration);
      if (e.detail?.kind === 4) majors++; // NODE_PERFORMANCE_GC_MAJOR: a mark-compact
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  return (messages) => {
    const elu = performance.eventLoopUtilization(elu0);
    loop.disable();
    obs.disconnect();
    const cpu = process.cpuUsage(cpu0);
    const n = Math.max(1, messages);
    return {
      cpuUsPerMsg: +((cpu.user + cpu.system) / n).toFixed(1),
      // The event loop's share of the step's time spent running (not waiting): the thread
      // that parses, decides and audits; CPU above counts every thread of the process.
      eventLoopUtilization: +elu.utilization.toFixed(2),
      eventLoopUsPerMsg: +((elu.active * 1000) / n).toFixed(1),
      eventLoopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(1),
      eventLoopDelayMaxMs: +(loop.max / 1e6).toFixed(1),
      gcMaxPauseMs: +Math.max(0, ...gc).toFixed(1),
      gcTotalMs: +gc.reduce((a, b) => a + b, 0).toFixed(0),
      markCompacts: majors,
      // The heap at the end of the step, garbage included.
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    };
  };
}

let stop = null;
process.on('message', async (m) => {
  if (m.type === 'watch') {
    stop = watchProcess();
    process.send({ type: 'watching' });
  } else if (m.type === 'stats') {
    process.send({ type: 'stats', stats: stop ? stop(m.messages) : null });
    stop = null;
  } else if (m.type === 'finish') {
    await gw.audit.flush();
    const records = await gw.store.audit.length();
    const verified = await verifyLog(gw.store.audit);
    await gw.stop();
    process.send({ type: 'finished', records, auditOk: verified.ok }, () => process.exit(0));
  }
});
process.send({ type: 'ready' });
