import { Counter, Gauge, Histogram } from 'prom-client';
import { isTerminal, type AnyEnvelope } from '@warden/contracts';
import { sha256Canonical } from '@warden/kernel';
import { BoundedLabel, registry } from '@warden/observability';
import type { RunState } from './domain/run.state';
import { DEFAULT_PROD_PATH, sensitiveClasses, type SensitivityRules } from './domain/sensitivity';
import type { OrchestratorConfig } from '../config';

function get<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Run and agent-behaviour metrics. Labels are bounded: `outcome`/`status` are the terminal statuses,
 * `agent` and `tool` are capped by {@link BoundedLabel} (the rest is `other`), `class` is the fixed
 * sensitive classes plus the operator's marked ones. Only `warden_agent_example_run_info` names a
 * session and a run: one series per (agent, kind), replaced at most every 30 s.
 */
export const runMetrics = {
  duration: get(
    'warden_run_duration_seconds',
    () =>
      new Histogram({
        name: 'warden_run_duration_seconds',
        help: 'Time from task_received to the terminal event, by terminal status and path (direct, or via an approval)',
        labelNames: ['outcome', 'path'],
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
        registers: [registry],
      }),
  ),
  calls: get(
    'warden_agent_calls_total',
    () =>
      new Counter({
        name: 'warden_agent_calls_total',
        help: 'Proposals received, by agent and tool',
        labelNames: ['agent', 'tool'],
        registers: [registry],
      }),
  ),
  runs: get(
    'warden_agent_runs_total',
    () =>
      new Counter({
        name: 'warden_agent_runs_total',
        help: 'Runs ended, by agent and terminal status',
        labelNames: ['agent', 'status'],
        registers: [registry],
      }),
  ),
  failures: get(
    'warden_agent_failures_total',
    () =>
      new Counter({
        name: 'warden_agent_failures_total',
        help: 'Runs ended failed, by agent and tool',
        labelNames: ['agent', 'tool'],
        registers: [registry],
      }),
  ),
  sensitive: get(
    'warden_agent_sensitive_operations_total',
    () =>
      new Counter({
        name: 'warden_agent_sensitive_operations_total',
        help: 'Decided proposals on sensitive resources, by agent, class and decision outcome',
        labelNames: ['agent', 'class', 'outcome'],
        registers: [registry],
      }),
  ),
  repeatedFailures: get(
    'warden_agent_repeated_failures_total',
    () =>
      new Counter({
        name: 'warden_agent_repeated_failures_total',
        help: 'Failures of an action the same agent already failed at least twice in the same session within 15 min',
        labelNames: ['agent', 'tool'],
        registers: [registry],
      }),
  ),
  example: get(
    'warden_agent_example_run_info',
    () =>
      new Gauge({
        name: 'warden_agent_example_run_info',
        help: 'A recent run of the agent (kind: call, failure, sensitive, repeated_failure), value = unix time; for alert links',
        labelNames: ['agent', 'kind', 'session', 'run_id'],
        registers: [registry],
      }),
  ),
};

export interface AgentMetricsOptions {
  rules: SensitivityRules;
  /** Agents named on metrics; empty = the first `agentLimit` seen. */
  agents?: readonly string[];
  agentLimit?: number;
  toolLimit?: number;
}

const REPEAT_WINDOW_MS = 15 * 60_000;
const REPEAT_THRESHOLD = 3;
const REPEAT_KEYS = 10_000;
const EXAMPLE_EVERY_MS = 30_000;

type Observation = () => void;

/**
 * Turns run transitions into metrics. The projection calls {@link observe} for each event it folds
 * and {@link commit} once the batch's transaction committed, so a retried batch counts once.
 */
export class RunMetricsRecorder {
  private readonly agents: BoundedLabel;
  private readonly tools: BoundedLabel;
  private pending: Observation[] = [];
  /** (agent, session, action) → failure times within the window. */
  private readonly failures = new Map<string, number[]>();
  private readonly examples = new Map<string, { labels: Record<string, string>; at: number }>();

  constructor(private readonly opts: AgentMetricsOptions) {
    this.agents = new BoundedLabel({ allow: opts.agents, limit: opts.agentLimit ?? 50 });
    this.tools = new BoundedLabel({ limit: opts.toolLimit ?? 100 });
  }

  /** Forgets what the last (uncommitted) batch observed. */
  begin(): void {
    this.pending = [];
  }

  commit(): void {
    const batch = this.pending;
    this.pending = [];
    for (const o of batch) o();
  }

  /** Records what `env` changed from `before` to `after` (pure of I/O; applied on commit). */
  observe(before: RunState, after: RunState, env: AnyEnvelope): void {
    const agentId = after.agent?.id;
    const tool = after.action?.tool;
    if (before.status === 'none' && after.status !== 'none' && tool) {
      this.pending.push(() => {
        runMetrics.calls.inc({ agent: this.agents.of(agentId), tool: this.tools.of(tool) });
        this.example(agentId, 'call', after);
      });
    }
    if (env.type === 'decision_made' && !before.decision && after.decision && after.action) {
      const classes = sensitiveClasses(after.action, after.decision, this.opts.rules);
      const outcome = after.decision.outcome;
      if (classes.length)
        this.pending.push(() => {
          const agent = this.agents.of(agentId);
          for (const c of classes) runMetrics.sensitive.inc({ agent, class: c, outcome });
          this.example(agentId, 'sensitive', after);
        });
    }
    if (before.status === 'none' || isTerminal(before.status) || after.status === 'none' || !isTerminal(after.status))
      return;
    const status = after.status;
    const seconds = after.createdAt ? (Date.parse(env.occurred_at) - Date.parse(after.createdAt)) / 1000 : undefined;
    this.pending.push(() => {
      const agent = this.agents.of(agentId);
      if (seconds !== undefined && seconds >= 0)
        runMetrics.duration.observe({ outcome: status, path: after.approval ? 'approval' : 'direct' }, seconds);
      runMetrics.runs.inc({ agent, status });
      if (status !== 'failed' || !tool) return;
      runMetrics.failures.inc({ agent, tool: this.tools.of(tool) });
      this.example(agentId, 'failure', after);
      if (this.repeated(after, Date.parse(env.occurred_at))) {
        runMetrics.repeatedFailures.inc({ agent, tool: this.tools.of(tool) });
        this.example(agentId, 'repeated_failure', after);
      }
    });
  }

  /** True when this failure makes at least {@link REPEAT_THRESHOLD} of the same action in the window. */
  private repeated(run: RunState, at: number): boolean {
    const key = sha256Canonical([run.agent?.id ?? '', run.sessionId ?? '', run.action ?? null]);
    const times = (this.failures.get(key) ?? []).filter((t) => at - t < REPEAT_WINDOW_MS);
    times.push(at);
    this.failures.delete(key);
    this.failures.set(key, times);
    if (this.failures.size > REPEAT_KEYS) this.failures.delete(this.failures.keys().next().value!);
    return times.length >= REPEAT_THRESHOLD;
  }

  private example(agentId: string | undefined, kind: string, run: RunState): void {
    const agent = this.agents.of(agentId);
    const key = `${agent}\u0000${kind}`;
    const now = Date.now();
    const prev = this.examples.get(key);
    if (prev && now - prev.at < EXAMPLE_EVERY_MS) return;
    if (prev) runMetrics.example.remove(prev.labels);
    const labels = { agent, kind, session: (run.sessionId ?? '').slice(0, 128), run_id: run.runId };
    runMetrics.example.set(labels, Math.floor(now / 1000));
    this.examples.set(key, { labels, at: now });
  }
}

/** The recorder for the orchestrator's settings (defaults for whatever `config` lacks). */
export function runMetricsRecorder(config: Partial<OrchestratorConfig>): RunMetricsRecorder {
  return new RunMetricsRecorder({
    rules: {
      marked: config.WARDEN_SENSITIVE_TOOLS ?? {},
      prodPath: config.WARDEN_PROD_PATH_PATTERN ?? DEFAULT_PROD_PATH,
    },
    agents: config.WARDEN_METRICS_AGENTS,
    agentLimit: config.WARDEN_METRICS_AGENT_LIMIT,
  });
}
