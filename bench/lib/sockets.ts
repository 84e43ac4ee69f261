/** Opening a bench client's sockets to MAWS: the same call for every workload. */
import type { ChildProc } from './ipc';

/** Opens `n` authenticated sockets of `group` on `client` to the gateway at `wsUrl`; throws if any fails. */
export async function openSockets(client: ChildProc, wsUrl: string, group: string, n: number): Promise<void> {
  const r = await client.call<{ failed: number; errors: string[] }>('open', {
    group,
    url: wsUrl,
    from: 0,
    to: n,
    auth: true,
    waitFirst: true,
    concurrency: 100,
  });
  if (r.failed > 0) throw new Error(`${r.failed} sockets did not open: ${r.errors.join('; ')}`);
}
