import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['fs', 'path', 'os', 'crypto', 'http', 'https', 'net', 'child_process', 'url', 'util', 'stream', 'events', 'timers', 'worker_threads', 'process'];

/** What workflow code may not import: it must replay deterministically. */
const WORKFLOW_PATHS = [
  ...NODE_BUILTINS.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'workflow code must not use Node built-ins' })),
  { name: 'mongoose', message: 'workflow code must not touch the database; use an activity' },
  { name: '@sendgrid/mail', message: 'workflow code must not send; use an activity' },
  { name: '@sendgrid/client', message: 'workflow code must not send; use an activity' },
  { name: 'express', message: 'workflow code has no HTTP' },
  { name: '@temporalio/client', message: 'workflow code uses @temporalio/workflow' },
  { name: '@temporalio/worker', message: 'workflow code uses @temporalio/workflow' },
  { name: '@temporalio/activity', message: 'workflow code uses @temporalio/workflow' },
];
const WORKFLOW_PATTERNS = [
  { group: ['../activities/*', '../../activities/*'], allowTypeImports: true, message: 'workflows import activities as types only' },
  { group: ['../src/db/*', '../src/api/*', '../src/delivery/*', '../src/servers/*'], message: 'workflow code must stay deterministic' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.local/**', '.data/**', 'dist/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // A worker thread's entry Node loads itself (src/worker/workflow-thread.cjs): CommonJS, without the TypeScript loader.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code must replay deterministically: only @temporalio/workflow, the pure core and type imports.
    files: ['workflows/**/*.ts', 'src/sim/workflows/**/*.ts', 'src/sim/behaviour.ts', 'src/sim/random.ts', 'src/sim/time-grid.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: WORKFLOW_PATHS, patterns: WORKFLOW_PATTERNS }] },
  },
  {
    // The core is workflow code too, and plain TypeScript besides: no Temporal, no I/O, and no import from
    // outside src/core at all (the shell depends on the core, never the other way). One block, because a
    // later `no-restricted-imports` setting replaces an earlier one for the same file rather than adding
    // to it (test/unit/lint-fence.test.ts holds this).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: WORKFLOW_PATHS,
          patterns: [
            { group: ['@temporalio/*', '@sendgrid/*'], message: 'the core is plain TypeScript: no Temporal, no I/O' },
            { regex: '^\\.\\./', message: 'the core imports nothing from the shell (db, api, delivery, workflows, ...): pass what it needs in' },
          ],
        },
      ],
    },
  },
);
