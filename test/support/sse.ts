/**
 * Test support: an AG-UI stream read the way an SSE client reads it (`id:` and `data:` lines,
 * events split on a blank line), so a test can cut it wherever it likes and continue with
 * `Last-Event-ID`.
 */

export interface SseEvent {
  id: string;
  /** The AG-UI event, parsed from its `data:` line. */
  event: { type: string } & Record<string, unknown>;
}

export interface AguiCall {
  method: 'POST' | 'GET';
  url: string;
  token?: string;
  body?: unknown;
  lastEventId?: string;
}

/** The HTTP answer of an AG-UI request: the stream's response, not yet read. */
export async function openAgui(call: AguiCall, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  if (call.lastEventId !== undefined) headers['last-event-id'] = call.lastEventId;
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(call.url, {
    method: call.method,
    headers,
    ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
    signal: signal ?? AbortSignal.timeout(120_000),
  });
}

/** The events of an SSE response as they arrive; comments (keepalives) are skipped. */
export async function* sseEvents(res: Response): AsyncGenerator<SseEvent> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length === 0) continue;
      if (id === undefined) throw new Error(`an AG-UI event without an id: ${block}`);
      yield { id, event: JSON.parse(data.join('\n')) as SseEvent['event'] };
    }
  }
}

/** Reads up to `count` events (all when undefined), then stops reading and drops the connection. */
export async function readEvents(call: AguiCall, count?: number): Promise<{ status: number; events: SseEvent[] }> {
  const abort = new AbortController();
  const res = await openAgui(call, abort.signal);
  const events: SseEvent[] = [];
  if (res.status !== 200) return { status: res.status, events };
  try {
    for await (const e of sseEvents(res)) {
      events.push(e);
      if (count !== undefined && events.length >= count) break;
    }
  } finally {
    abort.abort();
  }
  return { status: res.status, events };
}
