export * from './common';
export * from './submission';
export * from './decision';
export * from './result';
export * from './events';
export * from './commands';
export * from './subjects';
export * from './validation';
