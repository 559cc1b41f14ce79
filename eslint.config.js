// @ts-check
'use strict';
const path = require('node:path');
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importX = require('eslint-plugin-import-x');
const { createTypeScriptImportResolver } = require('eslint-import-resolver-typescript');

// Node's CommonJS globals, listed here so the config needs no extra package.
const nodeGlobals = Object.fromEntries(
  [
    'require',
    'module',
    'exports',
    '__dirname',
    '__filename',
    'process',
    'console',
    'Buffer',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'fetch',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'structuredClone',
    'globalThis',
    'performance',
    'crypto',
    'atob',
    'btoa',
    'Blob',
    'Headers',
    'Request',
    'Response',
    'FormData',
    'EventTarget',
    'Event',
    'MessageChannel',
    'BroadcastChannel',
    'DOMException',
  ].map((name) => [name, 'readonly']),
);

/** Bans a relative import that leaves this service's folder for another service's. */
const noCrossServiceImports = {
  meta: {
    type: 'problem',
    docs: { description: 'a service never imports another service' },
    messages: { cross: 'services/{{from}} must not import from services/{{to}}; share code through libs/ or the bus.' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const fromMatch = /[\\/]services[\\/]([^\\/]+)[\\/]/.exec(file);
    const check = (node, source) => {
      if (!fromMatch || typeof source !== 'string' || !source.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), source);
      const toMatch = /[\\/]services[\\/]([^\\/]+)(?:[\\/]|$)/.exec(target);
      if (toMatch && toMatch[1] !== fromMatch[1]) {
        context.report({ node, messageId: 'cross', data: { from: fromMatch[1], to: toMatch[1] } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

const deepImportBan = {
  group: ['@warden/*/src', '@warden/*/src/**', '@warden/*/dist', '@warden/*/dist/**'],
  message: "Import a lib through its public entry ('@warden/<lib>'), never its src/ or dist/.",
};
/** libs/contracts is the public contract: plain zod, nothing else (no framework, no other lib). */
const contractsOnlyZod = {
  regex: '^(?!zod$|\\.{1,2}/)',
  message: "libs/contracts imports only 'zod' (and its own files): it is the contract every service and client shares.",
};
/** libs/identity is the pure identity model: no framework, no bus, no I/O (the Nest glue is libs/runtime). */
const identityPure = {
  regex: '^(?!(zod|@warden/contracts|@warden/kernel|node:crypto)$|\\.{1,2}/)',
  message:
    "libs/identity is pure: it imports only '@warden/contracts', '@warden/kernel', 'zod' and 'node:crypto' (the Nest glue is libs/runtime).",
};
const serviceBan = {
  group: ['@warden/*-service', '@warden/*-service/**', '**/services/*', '**/services/*/**'],
  message: 'Code outside a service must not import a service; services talk over the bus.',
};

module.exports = tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'docs/**', 'coverage/**', 'var/**', '.nx/**', 'bench/results/**'],
  },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', ecmaVersion: 2023, globals: nodeGlobals },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', ecmaVersion: 2023, globals: nodeGlobals },
  },
  ...tseslint.configs.recommended.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    plugins: { warden: { rules: { 'no-cross-service-imports': noCrossServiceImports } } },
    languageOptions: {
      parserOptions: {
        // one program for the whole repo, mapping @warden/* to libs/*/src, so lint needs no build
        project: ['./tools/tsconfig.eslint.json'],
        tsconfigRootDir: __dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': ['error', { patterns: [deepImportBan] }],
    },
  },
  {
    // no import cycles, across libs too (@warden/* resolves to libs/*/src, as the lint program maps it)
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: path.join(__dirname, 'tools/tsconfig.eslint.json') }),
      ],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // libs and tools never reach into a service
    files: ['libs/**/*.ts', 'tools/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImportBan, serviceBan] }] },
  },
  {
    files: ['libs/contracts/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImportBan, serviceBan, contractsOnlyZod] }] },
  },
  {
    files: ['libs/identity/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImportBan, serviceBan, identityPure] }] },
  },
  {
    // a service's code never imports another service (its own relative imports are fine);
    // end-to-end tests under test/ may compose several services in one process
    files: ['services/*/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImportBan,
            {
              group: ['@warden/*-service', '@warden/*-service/**'],
              message: 'A service never imports another service; share code through libs/ or the bus.',
            },
          ],
        },
      ],
      'warden/no-cross-service-imports': 'error',
    },
  },
  {
    files: ['libs/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
