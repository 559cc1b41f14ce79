/** Ed25519 keys that sign decisions (from WARDEN_SIGNING_KEY). */
export const SIGNING_KEYS = Symbol('SIGNING_KEYS');
/** The clock decisions are stamped with. */
export const CLOCK = Symbol('CLOCK');
