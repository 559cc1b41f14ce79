export * from './ids';
export * from './clock';
export * from './canonical';
export * from './errors';
export * from './signing';
export * from './keyring';
