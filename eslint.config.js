// ESLint (flat config): a small type-aware rule set, not a recommended preset — the rules issue 13 item 8 asks for and
// what they need to run. `make lint` runs it with a cache under node_modules/.cache/ (git-ignored).
//
// Import cycles: eslint-plugin-import-x rather than eslint-plugin-import — it is the maintained fork with native flat
// config and ESLint 10 support, a faster resolver interface (`import-x/resolver-next`), and it resolves our
// extension-less TypeScript imports through eslint-import-resolver-typescript, which reads tsconfig.json.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { builtinModules } from 'node:module';

const sourceFolders = ['activities', 'api', 'workers', 'workflows', 'shared', 'infra', 'cli', 'bench', 'fixtures', 'migrations', 'test'];

export default defineConfig(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', 'dist/**', 'coverage/**', 'test/fixtures/histories/**'] },
  {
    files: [...sourceFolders.map((folder) => `${folder}/**/*.ts`), '{sdk,openapi}/**/*.ts', '*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    settings: {
      // import-x reads only .js files unless told otherwise (its `typescript` preset's settings, resolver spelled out).
      'import-x/extensions': ['.ts', '.js'],
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `typeof import('…')` stays allowed: vitest's vi.mock(path, async (original) => original<typeof import(path)>()) idiom.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, and activities/infra only as types.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: 'Node built-ins do not run in the workflow sandbox.' })),
          patterns: [
            { group: ['node:*'], message: 'Node built-ins do not run in the workflow sandbox.' },
            { regex: '^(\\.\\./)+infra(/|$)', message: 'Workflows do not import infra/: it holds I/O.' },
            {
              regex: '^(\\.\\./)+activities(/|$)',
              allowTypeImports: true,
              message: 'Workflows use activities through proxyActivities: import them with `import type`.',
            },
          ],
        },
      ],
    },
  },
);
