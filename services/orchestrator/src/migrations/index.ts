import { Initial1700000000000 } from './1700000000000-initial';
import { Runs1700000000001 } from './1700000000001-runs';
import { Identity1700000000002 } from './1700000000002-identity';
import { DeadLettersAudit1700000000003 } from './1700000000003-dead-letters-audit';
import { ClientExecutor1700000000017 } from './1700000000017-client-executor';

export const migrations = [
  Initial1700000000000,
  Runs1700000000001,
  Identity1700000000002,
  DeadLettersAudit1700000000003,
  ClientExecutor1700000000017,
];
