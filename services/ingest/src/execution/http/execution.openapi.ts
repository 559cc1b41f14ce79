import { z } from 'zod';
import { ExecutionReportRequest } from '@warden/contracts';
import { BEARER_SECURITY, jsonBody, jsonResponse, pathParam, problemResponse } from '@warden/runtime';

const Reported = {
  type: 'object',
  required: ['run_id', 'grant_id', 'status'],
  properties: {
    run_id: { type: 'string', format: 'uuid' },
    grant_id: { type: 'string', format: 'uuid' },
    status: { const: 'reported' },
  },
};

/** `POST /v1/runs/{run_id}/execution` as listed in ingest's `/openapi.json` (body schema from the contract's zod schema). */
export const EXECUTION_OPENAPI_PATHS = {
  '/v1/runs/{run_id}/execution': {
    post: {
      summary: 'Report the outcome of a client-executed run (bring your own executor) on its single-use grant',
      description:
        "The API key must be bound to the grant's agent; the grant must carry the orchestrator's signature, name this run and the action hash reported, and be within its deadline. The run then ends succeeded (no error) or failed: follow it on the orchestrator's GET /v1/runs/{run_id}/stream.",
      security: BEARER_SECURITY,
      parameters: [pathParam('run_id')],
      requestBody: jsonBody(z.toJSONSchema(ExecutionReportRequest, { io: 'input', unrepresentable: 'any' })),
      responses: {
        '202': jsonResponse(
          'Recorded: execution_reported is in the log; the orchestrator settles the run once',
          Reported,
        ),
        '400': problemResponse(
          400,
          'Invalid report (errors[].path), or outcome.output_hash is not the hash of outcome.output',
        ),
        '401': problemResponse(401, 'Missing, unknown, expired or revoked API key'),
        '403': problemResponse(
          403,
          "GRANT.BAD_SIGNATURE (not the orchestrator's grant), KEY.AGENT_MISMATCH (another agent's key) or KEY.NOT_BOUND",
        ),
        '404': problemResponse(404, 'Not a run id'),
        '409': problemResponse(409, 'GRANT.ALREADY_USED (a grant is reported once) or GRANT.ACTION_MISMATCH'),
        '410': problemResponse(410, "GRANT.EXPIRED: past the grant's deadline (the run ends failed, outcome_unknown)"),
        '422': problemResponse(422, 'GRANT.RUN_MISMATCH: the grant is for another run'),
      },
    },
  },
};
