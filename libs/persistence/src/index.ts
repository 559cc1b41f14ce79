export * from './database';
export * from './redis';
export * from './projection';
export * from './simple-transaction';
export * from './fenced-lease';
