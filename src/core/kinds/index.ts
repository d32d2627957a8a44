// The kind table: every event kind's rules (kinds/<kind>.ts). The mapped type makes the
// compiler fail until a new kind in model.ts has its module here.
import type { EventKind } from '../model.js';
import { call } from './call.js';
import { chatstate } from './chatstate.js';
import { message } from './message.js';
import { presence } from './presence.js';
import { receipt } from './receipt.js';
import type { KindRules } from './rules.js';

export type { Fitted, KindProblem, KindRules, TextRewrite } from './rules.js';

export type KindRulesTable = { readonly [K in EventKind]: KindRules<K> };

export const KIND_RULES: KindRulesTable = { message, presence, chatstate, receipt, call };

/**
 * The rules of a kind, for an event whose kind is known only at run time. The table pairs
 * each kind with its own rules, so an event of that kind is what they take.
 */
export const rulesOf = (kind: EventKind): KindRules<EventKind> =>
  KIND_RULES[kind] as unknown as KindRules<EventKind>;
