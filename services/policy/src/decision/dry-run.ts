import { TaskSubmission, parseWith, type Decision } from '@warden/contracts';
import { ValidationError } from '@warden/kernel';
import { traceIdFrom } from '@warden/observability';
import type { DecisionService } from './decision.service';

/**
 * Validates a dry-run request (a TaskSubmission) and evaluates it; the same for HTTP and the bus.
 * `admit` may refuse the valid submission (by throwing) before it is evaluated, e.g. an API key
 * bound to another agent.
 * @throws ValidationError with field paths for an invalid submission
 */
export async function dryRunRequest(
  decisions: DecisionService,
  body: unknown,
  traceparent?: string,
  admit?: (s: TaskSubmission) => void,
): Promise<Decision> {
  const parsed = parseWith(TaskSubmission, body);
  if (!parsed.ok) throw new ValidationError(parsed.errors);
  admit?.(parsed.value);
  return decisions.dryRun(parsed.value, traceIdFrom(traceparent));
}
