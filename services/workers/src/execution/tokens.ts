/** Real path of the workspace root (created at start). */
export const WORKSPACE_ROOT = Symbol('WORKSPACE_ROOT');
/** Public key that verifies execute commands. */
export const VERIFIER_KEYS = Symbol('VERIFIER_KEYS');
