import { Initial1700000000000 } from './1700000000000-initial';
import { Executions1700000000001 } from './1700000000001-executions';
import { ClaimSeq1700000000002 } from './1700000000002-claim-seq';
import { Began1700000000003 } from './1700000000003-began';

export const migrations = [Initial1700000000000, Executions1700000000001, ClaimSeq1700000000002, Began1700000000003];
