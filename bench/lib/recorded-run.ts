/** A run of the seed's question as a client receives it, for the workloads that time what a client does with it. */
import { QUERY } from '../../test/support/scenario';
import { TestClient } from '../../test/support/ws-client';

/** Starts the seed's question in `sessionId` and returns its durable frames (raw text) once it completed. */
export async function recordRun(wsUrl: string, sessionId: string, token: string): Promise<string[]> {
  const recorder = await TestClient.connect(wsUrl, sessionId, token);
  try {
    await recorder.request('task.start', { text: QUERY });
    await recorder.waitForEvent('run.completed', undefined, 30_000);
    return recorder.rawDurable();
  } finally {
    await recorder.close();
  }
}
