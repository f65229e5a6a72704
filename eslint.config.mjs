// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'libs/capture/native/build/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { import: importPlugin },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import/no-cycle': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@pcap/*/*'], message: 'Import a lib only through its public index (@pcap/<lib>).' },
            { group: ['**/apps/**', '../../apps/*'], message: 'Nothing imports from apps/.' },
            {
              group: ['**/libs/*/src/**', '../../libs/**', '../../../libs/**'],
              message: 'Import a lib by its alias (@pcap/<lib>), never by path.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/capture/src/**/*.ts', 'libs/cf/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@pcap/*'], message: 'libs/capture and libs/cf import nothing internal.' }] },
      ],
    },
  },
  {
    // The BOSH release's tests feed rendered job templates to the apps' own config loaders: they may import
    // apps/*/src/config/* and nothing else of apps/.
    files: ['bosh/test/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@pcap/*/*'], message: 'Import a lib only through its public index (@pcap/<lib>).' },
            {
              regex: '(^|/)apps/(?![a-z-]+/src/config/[a-z-]+$)',
              message: 'bosh/test imports only the config loaders of apps/ (apps/*/src/config/*).',
            },
            {
              group: ['**/libs/*/src/**', '../../libs/**', '../../../libs/**'],
              message: 'Import a lib by its alias (@pcap/<lib>), never by path.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
