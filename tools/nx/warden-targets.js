'use strict';
/**
 * Local Nx plugin: gives every lib and service `lint`, `test` (unit) and `test-int` targets, so
 * `nx run-many -t lint test` and `nx affected` work without per-project config. `build` comes
 * from each package.json's own script.
 */
const path = require('node:path');
const fs = require('node:fs');

function targetsFor(root) {
  const hasIntegration = fs.existsSync(path.join(root, 'test')) || root.startsWith('libs/');
  const targets = {
    lint: {
      executor: 'nx:run-commands',
      options: { command: `eslint ${root}`, cwd: '{workspaceRoot}' },
      cache: true,
    },
    test: {
      executor: 'nx:run-commands',
      options: { command: `jest --selectProjects unit --passWithNoTests ${root}/`, cwd: '{workspaceRoot}' },
      cache: true,
    },
  };
  if (hasIntegration) {
    targets['test-int'] = {
      executor: 'nx:run-commands',
      options: {
        command: `jest --selectProjects integration --runInBand --passWithNoTests ${root}/`,
        cwd: '{workspaceRoot}',
      },
      cache: false,
    };
  }
  return targets;
}

const createNodes = [
  '{libs,services}/*/package.json',
  (files) =>
    files.map((file) => {
      const root = path.dirname(file).split(path.sep).join('/');
      const kind = root.startsWith('services/') ? 'service' : 'lib';
      return [file, { projects: { [root]: { tags: [`type:${kind}`], targets: targetsFor(root) } } }];
    }),
];

module.exports = { name: 'warden-targets', createNodes };
