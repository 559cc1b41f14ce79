import { Initial1700000000000 } from './1700000000000-initial';
import { Runs1700000000001 } from './1700000000001-runs';
import { Identity1700000000002 } from './1700000000002-identity';

export const migrations = [Initial1700000000000, Runs1700000000001, Identity1700000000002];
