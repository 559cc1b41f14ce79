import { MAX_OUTPUT_BYTES, envAllowed } from '@warden/contracts';
import type { ToolSettings } from '../../tools/domain/tool';

/** What one execution may use, after a decision's constraints narrowed the worker's limits. */
export interface ExecutionLimits {
  /** Wall clock of the execution (the sandbox's process group is killed past it). */
  timeoutMs: number;
  /** Largest `output` JSON kept in the result; larger is cut and marked truncated. */
  maxOutputBytes: number;
  /** The worker's tool settings with every time and size cap clamped to the two above. */
  settings: ToolSettings;
}

const positive = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;

/** The largest output a result keeps: the contract's cap, or the decision's `max_output_bytes` if smaller. */
export function outputCap(constraints: Record<string, unknown> | undefined): number {
  return Math.min(MAX_OUTPUT_BYTES, Math.floor(positive(constraints?.max_output_bytes) ?? Infinity));
}

/**
 * Narrows the worker's limits by the decision's `constraints` (they can only tighten them):
 * `timeout_seconds` clamps the execution's wall clock and every tool's own time cap (program,
 * HTTP, SMTP, endpoint), `max_output_bytes` the result's output and the bytes kept from a program.
 * @example executionLimits({ timeout_seconds: 2 }, 60_000, settings).timeoutMs // 2000
 */
export function executionLimits(
  constraints: Record<string, unknown> | undefined,
  workerTimeoutMs: number,
  settings: ToolSettings,
): ExecutionLimits {
  const seconds = positive(constraints?.timeout_seconds);
  const timeoutMs = Math.min(workerTimeoutMs, seconds !== undefined ? Math.ceil(seconds * 1000) : Infinity);
  const maxOutputBytes = outputCap(constraints);
  const clamp = (ms: number) => Math.min(ms, timeoutMs);
  return {
    timeoutMs,
    maxOutputBytes,
    settings: {
      ...settings,
      http: { ...settings.http, timeoutMs: clamp(settings.http.timeoutMs) },
      shell: { ...settings.shell, timeoutMs: clamp(settings.shell.timeoutMs) },
      email: { ...settings.email, timeoutMs: clamp(settings.email.timeoutMs) },
      endpoints: { ...settings.endpoints, timeoutMs: clamp(settings.endpoints.timeoutMs) },
      maxProgramOutput: Math.min(settings.maxProgramOutput, maxOutputBytes),
    },
  };
}

/**
 * The environment a program a tool starts gets: `base` (the worker's fixed, secret-free tool
 * environment), reduced to the names `constraints.env_allow` lists (`NAME` or `PREFIX*`) when the
 * decision carries one. Nothing outside `base` is ever added: the worker's own environment (keys,
 * database URL) is not a source.
 * @example constrainedEnv({ env_allow: ['PATH'] }, { PATH: '/bin', HOME: '/h' }) // { PATH: '/bin' }
 */
export function constrainedEnv(
  constraints: Record<string, unknown> | undefined,
  base: Record<string, string>,
): Record<string, string> {
  const allow = constraints?.env_allow;
  if (!Array.isArray(allow)) return base;
  const names = allow.filter((x): x is string => typeof x === 'string');
  return Object.fromEntries(Object.entries(base).filter(([k]) => envAllowed(names, k)));
}
