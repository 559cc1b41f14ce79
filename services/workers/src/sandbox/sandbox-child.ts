/**
 * The sandbox process: executes the actions its worker sends over the IPC channel, one at a time,
 * and answers with the RunResult. Started by {@link SandboxPool} behind prlimit / unshare / setpriv,
 * in its own process group, with an allow-listed environment. Exits (taking its process group with
 * it) when the worker goes away.
 */
import { useBlockingFs } from '../tools/fs-ops';
import { runTool } from '../tools/run-tool';
import { ToolRegistry } from '../tools/tool-registry';
import type { SandboxMessage, SandboxRequest } from './protocol';

function leave(): never {
  try {
    // we lead our process group: take every program a tool started with us
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // not a group leader (started without detached): just exit
  }
  process.exit(1);
}

if (!process.send) {
  process.stderr.write('sandbox-child must be started by a worker with an IPC channel\n');
  process.exit(2);
}
const send = (m: SandboxMessage) => process.send!(m);
// one execution at a time, killed with its group past its time: the fs tools call the file system
// directly instead of through libuv's thread pool (two thread wake-ups a call)
useBlockingFs();

// the worker went away (its IPC channel closed, or setpriv --pdeathsig TERM): take our group along
process.on('disconnect', leave);
process.on('SIGTERM', leave);
process.on('message', (raw) => {
  const req = raw as SandboxRequest;
  const registry = new ToolRegistry(undefined, req.tools);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), req.timeoutMs);
  runTool(registry, req.action, {
    root: req.root,
    constraints: req.constraints,
    settings: req.settings,
    signal: controller.signal,
    sandboxed: true,
  })
    .then((result) => send({ id: req.id, result }))
    .finally(() => clearTimeout(timer))
    .catch(leave);
});
send({ ready: true });
