import { Module } from '@nestjs/common';
import { signingKeysOf, type Keyring } from '@warden/kernel';
import { CONFIG, KEYRING } from '@warden/runtime';
import type { WorkersConfig } from '../config';
import { ExecuteConsumer } from './consumers/execute.consumer';
import { RoleConsumers } from './consumers/role-consumers.service';
import { UpstreamServers } from '../upstream/upstream-servers.service';
import { ExecutionRepository } from './projections/execution.repository';
import { RunExecutor } from './run-executor.service';
import { ToolRunner } from './tool-runner.service';
import { VERIFIER_KEYS, WORKSPACE_ROOT } from './tokens';
import { prepareWorkspace } from '../tools/path-safety';
import { BUILTIN_TOOLS, DEFAULT_ROLE_TOOLS, ToolRegistry } from '../tools/tool-registry';

/** Authenticated, at-most-once execution of worker commands, in sandbox processes. */
@Module({
  providers: [
    {
      provide: WORKSPACE_ROOT,
      inject: [CONFIG],
      useFactory: (c: WorkersConfig) => prepareWorkspace(c.WARDEN_WORKSPACE),
    },
    // commands are the orchestrator's: only its public key(s) verify them
    { provide: VERIFIER_KEYS, inject: [KEYRING], useFactory: (kr: Keyring) => signingKeysOf(kr, 'orchestrator') },
    UpstreamServers,
    {
      provide: ToolRegistry,
      inject: [CONFIG, UpstreamServers],
      useFactory: (c: WorkersConfig, upstream: UpstreamServers) =>
        new ToolRegistry(BUILTIN_TOOLS, ['*'], { ...DEFAULT_ROLE_TOOLS, ...c.WORKER_ROLE_TOOLS }, [upstream]),
    },
    ToolRunner,
    ExecutionRepository,
    RunExecutor,
    ExecuteConsumer,
    RoleConsumers,
  ],
})
export class ExecutionModule {}
