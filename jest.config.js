/**
 * Unit specs sit beside the code in src/; end-to-end specs in test/ run real processes.
 *
 * `npm test` runs the e2e files two at a time (most of their time is spent waiting on real
 * processes, locks and timers), then, one at a time, the unit specs and the e2e files whose
 * figures or deadlines a second busy test would distort (SERIAL_E2E).
 */
const SERIAL_E2E = [
  'test/bench.e2e.ts',
  'test/providers.e2e.ts',
  'test/faults/heartbeat.e2e.ts',
  'test/faults/slow-consumer.e2e.ts',
  'test/sdk/failover.e2e.ts',
  'test/browser/',
];

const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

module.exports = {
  testEnvironment: 'node',
  transform: tsJest,
  moduleFileExtensions: ['ts', 'js', 'json'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: tsJest,
      testMatch: [
        '<rootDir>/src/**/*.spec.ts',
        '<rootDir>/test/support/**/*.spec.ts',
        '<rootDir>/packages/*/src/**/*.spec.ts',
      ],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform: tsJest,
      testMatch: ['<rootDir>/test/**/*.e2e.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...SERIAL_E2E.map((p) => `<rootDir>/${p}`)],
      testTimeout: 60000,
    },
    {
      displayName: 'e2e-serial',
      testEnvironment: 'node',
      transform: tsJest,
      testMatch: SERIAL_E2E.map((p) => (p.endsWith('/') ? `<rootDir>/${p}**/*.e2e.ts` : `<rootDir>/${p}`)),
      testTimeout: 60000,
    },
  ],
};
