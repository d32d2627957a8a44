// What the benchmarks share: order statistics and the two-zone policy the network
// benchmarks run under, the command line, CPU readings and loading the gateway.
import { readFileSync } from 'node:fs';

/** Median (the upper middle for an even count, as every figure in bench/README.md uses). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The p-quantile (0..1) of an ascending array; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : Number.NaN;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The enterprise (corp.test) and a partner (partner.test) may talk; nothing else. */
export const partnerPolicy = (name: string): string => `apiVersion: parley/v1
kind: Policy
metadata: { name: ${name}, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

/** The value of `--name=value` on the command line. */
export const argOf = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/**
 * The gateway module Parley runs in a benchmark: the compiled dist/ (as `parley start`
 * does; the npm scripts build it first) unless --source asks for src/ through tsx, whose
 * keepNames costs a few per cent. Typed from src/ either way.
 */
export async function loadGateway(): Promise<typeof import('../src/gateway.js')> {
  const url = process.argv.includes('--source')
    ? new URL('../src/gateway.ts', import.meta.url)
    : new URL('../dist/gateway.js', import.meta.url);
  return (await import(url.href)) as typeof import('../src/gateway.js');
}
