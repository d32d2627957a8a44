// What the benchmarks share: order statistics and the two-zone policy the network
// benchmarks run under.

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
