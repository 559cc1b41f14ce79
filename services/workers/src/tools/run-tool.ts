import type { Action, RunResult } from '@warden/contracts';
import { outputCap } from '../execution/domain/constraints';
import { failureResult, successResult } from '../execution/domain/result';
import { ToolError, type ToolContext } from './domain/tool';
import type { ToolRegistry } from './tool-registry';

/**
 * Runs an action's tool and turns whatever happens into a {@link RunResult}; never throws. Tool
 * errors (bad args, missing file, path escape) and unknown tools become `error: {code, message}`.
 * The output is capped at the decision's `max_output_bytes` (at most the contract's 64 KiB).
 */
export async function runTool(registry: ToolRegistry, action: Action, ctx: ToolContext): Promise<RunResult> {
  const tool = registry.get(action.tool);
  if (!tool) return failureResult({ code: 'TOOL.UNKNOWN', message: `this worker has no tool "${action.tool}"` });
  try {
    const output = await tool.run(action.args, ctx);
    return successResult(output, tool.truncate?.bind(tool), outputCap(ctx.constraints));
  } catch (err) {
    if (err instanceof ToolError) return failureResult({ code: err.code, message: err.message });
    return failureResult({
      code: 'TOOL.ERROR',
      message: `${tool.name} failed: ${(err as Error)?.message ?? String(err)}`,
    });
  }
}
