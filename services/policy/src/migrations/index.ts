import { Initial1700000000000 } from './1700000000000-initial';
import { Decisions1700000000001 } from './1700000000001-decisions';
import { Bundles1700000000002 } from './1700000000002-bundles';

export const migrations = [Initial1700000000000, Decisions1700000000001, Bundles1700000000002];
