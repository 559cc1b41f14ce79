import { Initial1700000000000 } from './1700000000000-initial';
import { Decisions1700000000001 } from './1700000000001-decisions';
import { Bundles1700000000002 } from './1700000000002-bundles';
import { Usage1700000000003 } from './1700000000003-usage';

export const migrations = [Initial1700000000000, Decisions1700000000001, Bundles1700000000002, Usage1700000000003];
