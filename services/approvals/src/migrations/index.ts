import { Initial1700000000000 } from './1700000000000-initial';
import { Approvals1700000000001 } from './1700000000001-approvals';
import { Closures1700000000002 } from './1700000000002-closures';

export const migrations = [Initial1700000000000, Approvals1700000000001, Closures1700000000002];
