export * from './database';
export * from './prepared-statements';
export * from './redis';
export * from './projection';
export * from './simple-transaction';
export * from './fenced-lease';
