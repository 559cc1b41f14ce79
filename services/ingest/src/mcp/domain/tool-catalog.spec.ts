import { FsWriteFileArgs, TOOL_ARGS, TOOL_INFO, roleToolNames } from '@warden/contracts';
import { AWAIT_RUN_LISTING, argumentErrors, workerToolsFor } from './tool-catalog';
import { callKey } from '../mcp-gateway.service';

describe('the tools the MCP gateway lists', () => {
  it('lists a role only its own tools, each with a description, annotations and an object schema', () => {
    const research = workerToolsFor('research');
    expect(research.map((t) => t.name)).toEqual(['fs.list_dir', 'fs.read_file', 'http.get']);
    for (const t of workerToolsFor('dev')) {
      expect(t.description!.length).toBeGreaterThan(20);
      expect(t.inputSchema.type).toBe('object');
      expect(Object.keys(t.annotations!)).toEqual([
        'readOnlyHint',
        'destructiveHint',
        'idempotentHint',
        'openWorldHint',
      ]);
    }
    expect(workerToolsFor('nobody')).toEqual([]);
    expect(roleToolNames('dev')).toEqual(
      expect.arrayContaining(['deploy.staging', 'deploy.production', 'deploy.canary']),
    );
  });

  it('derives input schemas from the workers’ argument schemas: defaults are optional', () => {
    const write = workerToolsFor('dev').find((t) => t.name === 'fs.write_file')!;
    expect(write.inputSchema.required?.sort()).toEqual(['content', 'path']);
    expect(write.inputSchema.additionalProperties).toBe(false);
    expect(AWAIT_RUN_LISTING.inputSchema.required).toEqual(['run_id']);
  });

  it('describes every worker tool', () => {
    expect(Object.keys(TOOL_INFO).sort()).toEqual(Object.keys(TOOL_ARGS).sort());
  });

  it('names every invalid field as arguments.<path>', () => {
    expect(
      argumentErrors(FsWriteFileArgs, { path: 1, extra: true })
        .map((e) => e.path)
        .sort(),
    ).toEqual(['arguments.content', 'arguments.extra', 'arguments.path']);
    expect(argumentErrors(FsWriteFileArgs, { path: 'a', content: 'b' })).toEqual([]);
  });

  it('keys a call by session and request id; long ids are hashed within 200 characters', () => {
    expect(callKey('s1', 5)).toBe('mcp:s1:5');
    expect(callKey('s1', '5')).toBe('mcp:s1:"5"');
    expect(callKey('s1', 'x'.repeat(500)).length).toBeLessThanOrEqual(200);
    expect(callKey('s1', 'x'.repeat(500))).toBe(callKey('s1', 'x'.repeat(500)));
  });
});
