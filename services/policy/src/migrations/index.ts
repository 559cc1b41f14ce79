import { Initial1700000000000 } from './1700000000000-initial';
import { Decisions1700000000001 } from './1700000000001-decisions';

export const migrations = [Initial1700000000000, Decisions1700000000001];
