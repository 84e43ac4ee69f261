// Type-aware linting: floating promises and non-exhaustive switches are the bugs that
// lose events in an async relay, so they are errors here.
import eslint from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, top first. Imports point down the event path only (gateway → session →
 * jobs → agents → llm → events → … → contract): a file may import its own folder and any
 * folder below it, never one above. The composition roots (src/*.ts) wire everything.
 */
const LAYERS = [
  'root', // main.ts, app.module.ts, core.module.ts: composition
  'gateway', // sockets: upgrade auth, frames, relay
  'session-api', // sessions over HTTP: list, history, delete
  'agui', // sessions as AG-UI agents: RunAgentInput in, the log's projection out
  'session', // the gateway's use cases: commands, state routing
  'jobs', // queues: producers, processors, worker module
  'agents', // planner, executors, aggregator, clarifier
  'llm', // model providers
  'tools', // what agents can call: built-in tools, their runner
  'events', // the event log and its scripts
  'auth', // tokens
  'ops', // health, metrics, Bull Board, usage counting
  'tracing', // OpenTelemetry: the tracer provider, spans, a run activation's trace
  'web', // the page's HTTP headers
  'store', // Redis connections, key schema, run record codec
  'config', // the typed, validated environment
  'logging', // pino: the process's logger, the log context of a run or a frame
  'common', // small helpers, DI tokens
  'contract', // the wire and process contract: imports nothing
];
const layerElements = LAYERS.filter((type) => type !== 'root').map((type) => ({ type, pattern: `src/${type}` }));
const layerPolicies = LAYERS.filter((type) => type !== 'root').map((type) => ({
  from: { element: { type } },
  // Its own folder and every one below it.
  allow: { to: { element: { types: { anyOf: LAYERS.slice(LAYERS.indexOf(type)) } } } },
}));

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build-tools/',
      'node_modules/',
      'coverage/',
      'test-artifacts/',
      'public/',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': layerElements,
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkAllOrigins: true,
          policies: [
            ...layerPolicies,
            // Packages and Node's own modules, for every layer but the contract: it is pure
            // types and names, and imports nothing.
            {
              from: { element: { type: '!contract' } },
              allow: { to: { module: { origin: ['external', 'core'] } } },
            },
          ],
        },
      ],
      // A file in a layer may not import one outside every layer (the composition roots).
      'boundaries/no-unknown-dependencies': 'error',
    },
  },
  {
    files: ['test/**/*.ts', '**/*.spec.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
