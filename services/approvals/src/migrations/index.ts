import { Initial1700000000000 } from './1700000000000-initial';
import { Approvals1700000000001 } from './1700000000001-approvals';

export const migrations = [Initial1700000000000, Approvals1700000000001];
