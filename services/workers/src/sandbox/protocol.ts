import type { Action, RunResult } from '@warden/contracts';
import type { ToolSettings } from '../tools/domain/tool';

/** Parent → sandbox: execute one action. Plain JSON over the IPC channel. */
export interface SandboxRequest {
  id: number;
  action: Action;
  /** Tool-name patterns of the command's role: the sandbox knows only these tools. */
  tools: string[];
  root: string;
  constraints: Record<string, unknown>;
  settings: ToolSettings;
  timeoutMs: number;
}

/** Sandbox → parent. */
export type SandboxMessage = { ready: true } | { id: number; result: RunResult };
