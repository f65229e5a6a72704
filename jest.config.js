/**
 * One Jest project per app/lib. Unit specs sit next to the code (`*.spec.ts`); tests that need real parts
 * (namespaces, libpcap, tshark) are `*.e2e-spec.ts` and run in the same projects, serially (`--runInBand`),
 * because they create network namespaces and measure packet counts.
 */
const { pathsToModuleNameMapper } = require('ts-jest');
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { compilerOptions } = require('./tsconfig.json');

const moduleNameMapper = pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' });

function project(name, root) {
  return {
    displayName: name,
    rootDir: __dirname,
    roots: [`<rootDir>/${root}`],
    testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
    testEnvironment: 'node',
    transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', isolatedModules: true }] },
    moduleNameMapper,
    moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  };
}

module.exports = {
  projects: [
    project('capture', 'libs/capture'),
    project('sinks', 'libs/sinks'),
    project('cf', 'libs/cf'),
    project('agent', 'apps/agent'),
    project('api', 'apps/api'),
    project('cli', 'cli'),
    project('bosh', 'bosh'),
  ].filter((p) => existsSync(join(__dirname, p.roots[0].replace('<rootDir>/', '')))),
  testTimeout: 60000,
};
