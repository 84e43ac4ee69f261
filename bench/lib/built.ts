/**
 * MAWS's own code, where the bench needs it to produce load (the relay workload appends events
 * exactly as a worker does): loaded from the BUILT modules in dist/, what the spawned MAWS
 * processes run, never from src/. Their types come from src/ by `import type` only, so the
 * bench stays black-box at run time and still fails to compile when a signature it uses
 * changes. This is the one place in bench/ that loads anything of MAWS; it needs
 * `npm run build`, as the MAWS processes the bench starts do.
 */
// env first: it points MAWS_MAIN_JS (and so the test harness's dist) at this checkout's build.
import './env';
import { loadBuilt as load } from '../../test/support/built';

export const { sessionKeyOf, SessionKeys } = load<typeof import('../../src/store/redis-keys')>('store/redis-keys');
export const { durable, frameTail } = load<typeof import('../../src/events/frames')>('events/frames');
export const { EventLog } = load<typeof import('../../src/events/event-log')>('events/event-log');
export const { openRedis } = load<typeof import('../../src/store/redis-connection')>('store/redis-connection');

export type EventLog = import('../../src/events/event-log').EventLog;
export type { PendingEvent } from '../../src/events/frames';
