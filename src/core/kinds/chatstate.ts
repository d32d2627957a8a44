// Chat states: carried as is where the target carries them.
import { canonicalJson } from '../audit/hash.js';
import { ChatStateEvent } from '../model.js';
import { asIs, type KindRules } from './rules.js';

export const chatstate: KindRules<'chatstate'> = {
  schema: ChatStateEvent,
  inputDefaults: () => ({ state: 'composing' }),
  fit: asIs,
  auditText: (event) => canonicalJson({ state: event.state }),
};
