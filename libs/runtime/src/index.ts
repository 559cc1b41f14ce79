export * from './config';
export * from './core.module';
export * from './bootstrap';
export * from './problem.filter';
export * from './auth';
export * from './rebuild';
export * from './projections';
export * from './identity';
