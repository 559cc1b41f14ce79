import type { BusConnection } from '@warden/bus';
import { Decision, type Subjects, type TaskSubmission } from '@warden/contracts';
import { TransientError } from '@warden/kernel';
import type { RecheckAnswer } from './domain/closure.decide';

export type { RecheckAnswer } from './domain/closure.decide';

/**
 * Asks the policy service (bus request/reply on `subjects.policyEvaluate`) what it would decide now.
 * No responder, a timeout, a 5xx problem or an unreadable reply is transient: the caller retries.
 * @example await new PolicyRecheck(bus, subjects, 2000).evaluate(submission)
 */
export class PolicyRecheck {
  constructor(
    private readonly bus: BusConnection,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
  ) {}

  async evaluate(submission: TaskSubmission): Promise<RecheckAnswer> {
    let raw: unknown;
    try {
      const reply = await this.bus.nc.request(this.subjects.policyEvaluate, JSON.stringify(submission), {
        timeout: this.timeoutMs,
      });
      raw = reply.json();
    } catch (err) {
      throw new TransientError(`policy re-check got no answer: ${(err as Error).message}`, err);
    }
    const d = Decision.safeParse(raw);
    if (d.success) return { kind: 'decision', decision: d.data };
    const problem = raw as { status?: unknown; detail?: unknown; title?: unknown };
    if (typeof problem?.status === 'number' && problem.status >= 400 && problem.status < 500)
      return { kind: 'refused', detail: String(problem.detail ?? problem.title ?? 'refused') };
    throw new TransientError(`policy re-check answered neither a decision nor a 4xx problem`);
  }
}
