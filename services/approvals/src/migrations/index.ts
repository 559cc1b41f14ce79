import { Initial1700000000000 } from './1700000000000-initial';
import { Approvals1700000000001 } from './1700000000001-approvals';
import { Closures1700000000002 } from './1700000000002-closures';
import { Votes1700000000003 } from './1700000000003-votes';
import { RunEndings1700000000004 } from './1700000000004-run-endings';
import { DutyLeases1700000000005 } from './1700000000005-duty-leases';
import { PlanItems1700000000006 } from './1700000000006-plan-items';
import { Slack1700000000100 } from './1700000000100-slack';
import { Dashboard1700000000101 } from './1700000000101-dashboard';
import { DashboardPhantoms1700000000102 } from './1700000000102-dashboard-phantoms';

export const migrations = [
  Initial1700000000000,
  Approvals1700000000001,
  Closures1700000000002,
  Votes1700000000003,
  RunEndings1700000000004,
  DutyLeases1700000000005,
  PlanItems1700000000006,
  Slack1700000000100,
  Dashboard1700000000101,
  DashboardPhantoms1700000000102,
];
