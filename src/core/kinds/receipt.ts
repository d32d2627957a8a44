// Receipts: carried as is where the target carries them.
import { canonicalJson } from '../audit/hash.js';
import { ReceiptEvent } from '../model.js';
import { asIs, type KindRules } from './rules.js';

export const receipt: KindRules<'receipt'> = {
  schema: ReceiptEvent,
  inputDefaults: () => ({ receipt: 'delivered', messageId: 'unknown' }),
  fit: asIs,
  auditText: (event) => canonicalJson({ receipt: event.receipt, messageId: event.messageId }),
};
