import { Initial1700000000000 } from './1700000000000-initial';
import { Executions1700000000001 } from './1700000000001-executions';

export const migrations = [Initial1700000000000, Executions1700000000001];
