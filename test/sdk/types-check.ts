/**
 * Type-level checks of @maws/client, compiled by `npm run typecheck` (never run): each
 * `@ts-expect-error` line must fail to compile, or the typecheck fails.
 */
import type { MawsClient } from '../../packages/client/src';

export function typeChecks(client: MawsClient): void {
  // An event's data is that event's: agent.delta has no report.
  // @ts-expect-error agent.delta's data has no `report`
  client.on('agent.delta', (d) => d.report);
  client.on('run.completed', (d) => d.report.length);
  client.on('agent.delta', (d, frame) => d.text.length + frame.seq);
  // A command's data is that command's.
  // @ts-expect-error task.start takes {text, review?}
  void client.request('task.start', { txt: 'x' });
  // @ts-expect-error no such command
  void client.request('task.explode', {});
  void client.request('run.steer', { text: 'Skip Google' });
}
