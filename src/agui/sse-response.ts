import { once } from 'node:events';
import type { Response } from 'express';
import type { EventSink } from './agui-stream';

/** An Express response as a `text/event-stream`: headers sent at once, writes wait for drain. */
export class SseResponse implements EventSink {
  constructor(private readonly res: Response) {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    // Proxies such as nginx would otherwise hold the events back.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  async send(chunk: string): Promise<void> {
    if (this.closed) return;
    if (!this.res.write(chunk)) {
      // A slow reader: the log is the buffer, so wait rather than hold events in memory.
      await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
    }
  }

  end(): void {
    if (!this.closed) this.res.end();
  }
}
