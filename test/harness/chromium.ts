// A real browser for the console tests: Debian's Chromium driven by playwright-core.
// Installs the `chromium` package when /usr/bin/chromium is missing (idempotent). Never
// `npx playwright install`: it downloads a browser build and fails on these machines.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

function aptGet(args: string[]): { status: number | null; output: string } {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'apt-get' : 'sudo';
  const argv = asRoot ? args : ['-n', 'apt-get', ...args];
  const r = spawnSync(cmd, argv, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The Chromium binary, installed with apt-get if it is missing. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  let r = aptGet(['install', '-y', 'chromium']);
  if (r.status !== 0) {
    // The package lists may be stale or missing on a fresh machine.
    aptGet(['update']);
    r = aptGet(['install', '-y', 'chromium']);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`could not install chromium (apt-get exit ${r.status}):\n${r.output.slice(-2000)}`);
  }
  return CHROMIUM;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS, headless: true });
}
