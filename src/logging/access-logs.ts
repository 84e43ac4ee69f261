import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';

/** Paths polled all the time (probes, scrapes): no access line for them. */
const QUIET = ['/health/live', '/metrics'];

/**
 * One access line per HTTP request (method, path without its query, status, time): what
 * was asked, never with what (no headers, no query string: a token could be in either).
 */
export function accessLogs(logger: Logger): RequestHandler {
  return pinoHttp({
    logger: logger.child({ context: 'HTTP' }),
    autoLogging: { ignore: (req: IncomingMessage) => QUIET.includes(pathOf(req.url)) },
    quietReqLogger: true,
    customSuccessMessage: (req: IncomingMessage, res: ServerResponse) =>
      `${req.method} ${pathOf(req.url)} ${res.statusCode}`,
    customErrorMessage: (req: IncomingMessage, res: ServerResponse) =>
      `${req.method} ${pathOf(req.url)} ${res.statusCode}`,
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, path: pathOf(req.url) }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

function pathOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0];
  return path;
}
