/**
 * The files `tools/bundle-sandbox.js` writes beside the built sandbox (see `sandbox-loader.ts`). No
 * imports and no side effects: the worker and the sandbox's loader both read these names.
 */
/** The sandbox and every module it loads, in one file. */
export const BUNDLE = 'sandbox-child.bundle.js';
/** V8's code cache of the bundle, made after a start-up at build time. */
export const CODE_CACHE = 'sandbox-child.bundle.cache';
/** `{ inputs: { <path relative to this folder>: <sha256 hex> } }`: what the bundle was made from. */
export const MANIFEST = 'sandbox-child.bundle.json';
