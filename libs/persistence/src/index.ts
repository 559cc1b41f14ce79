export * from './database';
export * from './redis';
export * from './projection';
export * from './fenced-lease';
