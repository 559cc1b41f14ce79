/** Unit tests (`*.spec.ts`, pure logic) and integration tests (`*.int-spec.ts`, real NATS/Postgres/Redis). */
const common = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
    // ESM-only packages (Node requires them natively; jest's CommonJS loader needs them transpiled)
    // the OTLP exporter loads node:http with import(), which jest's vm refuses without --experimental-vm-modules
    '^.+/node_modules/(@marcbachmann/cel-js|@opentelemetry/otlp-exporter-base)/.+\\.js$': [
      'ts-jest',
      { diagnostics: false, tsconfig: { allowJs: true, isolatedModules: true, module: 'commonjs', target: 'ES2022' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!@marcbachmann/cel-js/|@opentelemetry/otlp-exporter-base/)'],
  moduleNameMapper: { '^@warden/([a-z-]+)$': '<rootDir>/libs/$1/src' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  setupFiles: ['<rootDir>/jest.setup.js'],
};
module.exports = {
  // integration tests wait on real brokers and databases
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{libs,services,tools}/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{libs,services,test}/**/*.int-spec.ts'] },
  ],
};
