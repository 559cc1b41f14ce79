/**
 * Who may call Warden, as plain TypeScript: roles and principals, API-key bindings, token hashing and
 * comparison, the auth errors, and the directory fold ({@link IdentityState}). No framework, no I/O:
 * the Nest glue that follows the directory stream and guards routes is in @warden/runtime.
 */
export * from './auth';
export * from './identity-state';
