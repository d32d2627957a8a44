// `npm run lab` leaves nothing behind (issue 24): the real scripts/lab.ts is started in a
// child process; closing its terminal (SIGHUP), Ctrl-C with its output pipe gone, its parent
// dying and the lab itself being killed outright each end every server it started and
// remove its folder (config, tokens, the servers' data).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { descendants, isAlive, type Proc } from '../scripts/lab-watchdog.js';

// Four labs start one after the other, each with Synapse: far beyond the default per-file limit.
t.setTimeout(900_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LAB = ['--import', 'tsx', 'scripts/lab.ts'];

const commOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

interface Lab {
  /** The process that runs scripts/lab.ts. */
  pid: number;
  self: Proc;
  /** The process that started it (the lab itself, or the wrapper standing for a terminal/npm). */
  child: ChildProcess;
  folder: string;
  /** Every process the lab started, as it was once the lab was up. */
  procs: Proc[];
  output: () => string;
}

/**
 * Start the lab and wait until it is up. `wrapped`: under a parent process of its own (as
 * npm or a shell would be), whose pid it prints.
 */
async function startLab(t: Test, wrapped = false): Promise<Lab> {
  const child = wrapped
    ? spawn(
        process.execPath,
        [
          '-e',
          `const c = require('node:child_process').spawn(process.execPath, ${JSON.stringify(LAB)}, { stdio: 'inherit' });
           process.stderr.write('LABPID ' + c.pid + '\\n'); setInterval(() => {}, 1 << 30);`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
    : spawn(process.execPath, LAB, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  t.teardown(() => {
    // Whatever a failed test left: the lab's processes and folder.
    const pid = Number(/LABPID (\d+)/.exec(out)?.[1] ?? child.pid);
    for (const p of descendants(pid)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    try {
      process.kill(pid, 'SIGKILL');
      child.kill('SIGKILL');
    } catch {}
  });
  for (;;) {
    if (/Parley lab is up/.test(out) && /lab folder\s+(\S+)/.test(out)) break;
    if (child.exitCode !== null || /lab failed/.test(out)) throw new Error(`the lab did not start:\n${out}`);
    await sleep(200);
  }
  const pid = wrapped ? Number(/LABPID (\d+)/.exec(out)?.[1]) : (child.pid ?? 0);
  const folder = /lab folder\s+(\S+)/.exec(out)?.[1] ?? '';
  const procs = descendants(pid);
  const self = descendants(process.pid).find((p) => p.pid === pid);
  if (!self) throw new Error(`no lab process ${pid}`);
  return { pid, self, child, folder, procs, output: () => out };
}

/** The servers a lab runs (the tsx and watchdog helpers aside). */
function checkServers(t: Test, lab: Lab): void {
  const names = new Set(lab.procs.map((p) => commOf(p.pid)));
  for (const server of ['redis-server', 'kamailio', 'python']) t.ok(names.has(server), `${server} runs`);
  t.ok(
    [...names].some((n) => n.startsWith('lua') || n === 'prosody'),
    `prosody runs (${[...names].join(', ')})`,
  );
  t.ok(existsSync(`${lab.folder}/parley/parley.yaml`), 'the folder holds the config with its tokens');
}

/** Until the lab and everything it started have ended. */
async function gone(lab: Lab): Promise<void> {
  while (isAlive(lab.self) || lab.procs.some(isAlive)) await sleep(100);
}

function checkClean(t: Test, lab: Lab): void {
  const left = lab.procs.filter(isAlive).map((p) => `${p.pid} ${commOf(p.pid)}`);
  t.same(left, [], 'every process the lab started is gone');
  t.notOk(existsSync(lab.folder), `the lab folder ${lab.folder} is removed`);
}

t.test('closing the terminal (SIGHUP) stops the servers and removes the folder', async (t) => {
  const lab = await startLab(t);
  checkServers(t, lab);
  lab.child.kill('SIGHUP');
  await new Promise((r) => lab.child.once('exit', r));
  t.match(lab.output(), /Stopping the lab \(the terminal closed \(SIGHUP\)\)[\s\S]*Stopped\./);
  await gone(lab);
  checkClean(t, lab);
});

t.test('Ctrl-C with the output pipe closed (npm run lab | tee) still cleans up', async (t) => {
  const lab = await startLab(t);
  lab.child.stdout?.destroy();
  lab.child.kill('SIGINT');
  await new Promise((r) => lab.child.once('exit', r));
  await gone(lab);
  checkClean(t, lab);
});

t.test("the lab's parent dying (kill -9) is noticed: the lab stops everything", async (t) => {
  const lab = await startLab(t, true);
  checkServers(t, lab);
  lab.child.kill('SIGKILL');
  await gone(lab);
  t.match(lab.output(), /Stopping the lab \(its parent process \d+ is gone\)/);
  checkClean(t, lab);
});

t.test(
  'the lab killed outright (kill -9): its watchdog stops the servers and removes the folder',
  async (t) => {
    const lab = await startLab(t);
    const watchdog = lab.procs.find((p) => /lab-watchdog/.test(readCmdline(p.pid)));
    t.ok(watchdog, 'a watchdog runs');
    lab.child.kill('SIGKILL');
    await new Promise((r) => lab.child.once('exit', r));
    while (lab.procs.some(isAlive) || existsSync(lab.folder)) await sleep(100);
    checkClean(t, lab);
  },
);

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
