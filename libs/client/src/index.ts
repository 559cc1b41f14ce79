export {
  WardenClient,
  type WardenClientOptions,
  type WardenBusClientOptions,
  type WardenBusClientBase,
  type ExecutionReport,
  type GuardedFn,
  type GuardCallOptions,
} from './client';
export { Run, type RunOutcome, type Grant } from './run';
export type { Proposal, RunSnapshot } from './types';
export type { RetryPolicy } from './http';
export {
  WardenError,
  WardenApiError,
  WardenValidationError,
  WardenAuthError,
  WardenNetworkError,
  RunEndedError,
  RunDeniedError,
  ApprovalRefusedError,
  reasonsOf,
} from './errors';
export { BusTransport, type BusTransportOptions } from './bus';
