/**
 * The Warden policy language: bundle parsing and validation (`parseBundle`, `loadBundle`), the
 * compiled plan, evaluation (`evaluate`, `policyInput`), the bundle's own tests (`runPolicyTests`),
 * replay and what-if. Pure: no I/O, no clock but the one passed in. Used by the policy service, the
 * `warden` CLI (`policy test`) and the benches.
 * @example
 * import { parseBundle, evaluate, policyInput } from '@warden/policy-language';
 * const policy = parseBundle(readFileSync('deploy/policies/default.yaml', 'utf8'));
 */
export * from './bundle';
export * from './plan';
export * from './bounded';
export * from './compute';
export * from './paths';
export * from './evaluate';
export * from './policy-tests';
export * from './replay';
