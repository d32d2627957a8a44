// Shared helpers for the policy tests (not a test file itself).
import type { CanonicalEvent } from '../../../src/core/model.js';
import { eventFromInput } from '../../../src/core/policy/event-input.js';
import { compilePolicySource } from '../../../src/core/policy/load.js';

export const HEAD = `apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
`;

/** Compile a policy from YAML lines appended to the standard head. */
export const policy = (body: string) => compilePolicySource(HEAD + body, 'test.yaml');

export const ev = (input: Record<string, unknown>): CanonicalEvent =>
  eventFromInput({ time: '2026-11-25T10:00:00Z', ...input });

export const msg = (from: string, to: string, body = 'hi', extra: Record<string, unknown> = {}) =>
  ev({ kind: 'message', from, to, body, ...extra });
