import { Initial1700000000000 } from './1700000000000-initial';
import { Submissions1700000000001 } from './1700000000001-submissions';
import { KeysWebhooks1700000000002 } from './1700000000002-keys-webhooks';
import { McpSessions1700000000020 } from './1700000000020-mcp-sessions';
import { McpTasks1700000000021 } from './1700000000021-mcp-tasks';

export const migrations = [
  Initial1700000000000,
  Submissions1700000000001,
  KeysWebhooks1700000000002,
  McpSessions1700000000020,
  McpTasks1700000000021,
];
