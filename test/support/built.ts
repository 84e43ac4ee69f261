/**
 * Test support: MAWS's own code, for the few tests that must do what a MAWS process does (a
 * gateway that dies between starting a run and queueing its job) or name its keys. Loaded from
 * the BUILT modules in dist/, what the spawned processes run (`npm run build`), never from
 * src/: their types come from src/ by `import type` only, so the tests stay black-box at run
 * time and still fail to compile when a signature they use changes. The one place in test/
 * that loads anything of MAWS.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MAWS_MAIN } from './maws-process';

/** The build the MAWS processes run (MAWS_MAIN_JS moves both). */
const DIST = path.dirname(MAWS_MAIN);

/** The built module `module` (a path under dist/ without `.js`), typed by the caller's `typeof import`. */
export function loadBuilt<M>(module: string): M {
  const file = path.join(DIST, `${module}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  // A runtime require of the build output (not of src/), typed by the caller's `typeof import`.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as M;
}

export const { EventLog } = loadBuilt<typeof import('../../src/events/event-log')>('events/event-log');
export const { durable } = loadBuilt<typeof import('../../src/events/frames')>('events/frames');
export const { sessionKeyOf, SessionKeys } = loadBuilt<typeof import('../../src/store/redis-keys')>('store/redis-keys');
