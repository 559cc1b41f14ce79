import { headerParam, jsonResponse } from '@warden/runtime';

/** The Slack routes as listed in `/openapi.json`. */
export const SLACK_OPENAPI_PATHS = {
  '/slack/interactions': {
    post: {
      summary: 'Slack interactivity (Approve / Reject buttons); Slack-signed',
      description:
        'Form body `payload=<JSON>` as Slack sends it. Needs `X-Slack-Signature` (v0 HMAC-SHA256 of `v0:<ts>:<raw body>` with SLACK_SIGNING_SECRET) and `X-Slack-Request-Timestamp` within 5 minutes either way. Answers 200 at once; the vote and message update follow.',
      parameters: [
        headerParam('X-Slack-Signature', { type: 'string' }, true),
        headerParam('X-Slack-Request-Timestamp', { type: 'string' }, true),
      ],
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: { type: 'object', properties: { payload: { type: 'string' } }, required: ['payload'] },
          },
        },
      },
      responses: {
        '200': { description: 'acknowledged' },
        '401': { description: 'bad, stale or missing signature' },
        '503': { description: 'Slack is not configured (SLACK_SIGNING_SECRET unset)' },
      },
    },
  },
  '/slack/commands': {
    post: {
      summary: '`/warden pending | approve <id> [comment] | reject <id> <reason>`; Slack-signed',
      description:
        'Slash command form body as Slack sends it (`text`, `user_id`, `response_url`, …). The Slack user must be linked to an operator (`slack_user_id`). Answers within 3 s with an ephemeral message; slower work answers on `response_url`.',
      requestBody: {
        required: true,
        content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } },
      },
      responses: {
        '200': jsonResponse('ephemeral reply', { type: 'object' }),
        '401': { description: 'bad, stale or missing signature' },
        '503': { description: 'Slack is not configured (SLACK_SIGNING_SECRET unset)' },
      },
    },
  },
};
