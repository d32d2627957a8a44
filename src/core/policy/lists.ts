// Policy fields that take one value or a list of them, read and printed alike everywhere.

/** A field given as one value or a list, as a list. */
export const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** A list as `explain` prints it. */
export const fmtList = (xs: readonly string[]): string => `[${xs.join(', ')}]`;
