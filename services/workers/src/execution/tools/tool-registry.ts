import { listDirTool } from './fs-list-dir.tool';
import { readFileTool } from './fs-read-file.tool';
import { writeFileTool } from './fs-write-file.tool';
import type { Tool } from './tool';

/** Every tool this worker can execute, by name. */
export class ToolRegistry {
  private readonly tools: Map<string, Tool>;

  constructor(tools: Tool[] = [readFileTool, writeFileTool, listDirTool]) {
    this.tools = new Map(tools.map((t) => [t.name, t]));
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  names(): string[] {
    return [...this.tools.keys()];
  }
}
