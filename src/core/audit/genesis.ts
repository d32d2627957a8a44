// What the first record follows: its own module, so that what imports only this (the
// verify workers) does not load the record schemas (record.ts, TypeBox).
export const GENESIS_HASH = '0'.repeat(64);
