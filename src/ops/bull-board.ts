import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { timingSafeEqual } from 'node:crypto';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board behind HTTP Basic auth. It is plain Express middleware (Nest guards do not
 * cover it), so the credentials check is mounted in front of it on the same path.
 */
export function bullBoardRouter(queues: Queue[], user?: string, password?: string): RequestHandler[] {
  if (!user || !password) return [denyAll()];
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });
  return [basicAuth(user, password), serverAdapter.getRouter() as RequestHandler];
}

function challenge(res: Response): void {
  res.setHeader('WWW-Authenticate', 'Basic realm="MAWS queues", charset="UTF-8"');
  res.status(401).send('credentials required');
}

/** No ADMIN_USER/ADMIN_PASSWORD: the dashboard is off, and says 401 like a locked one. */
function denyAll(): RequestHandler {
  return (_req: Request, res: Response) => challenge(res);
}

export function basicAuth(user: string, password: string): RequestHandler {
  const expected = Buffer.from(`${user}:${password}`);
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const given = /^Basic\s+(.+)$/i.exec(header)?.[1];
    const decoded = given ? Buffer.from(given, 'base64') : Buffer.alloc(0);
    if (decoded.length === expected.length && timingSafeEqual(decoded, expected)) {
      next();
      return;
    }
    challenge(res);
  };
}
