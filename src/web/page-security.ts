import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * The page's security headers, through helmet. The page renders model output (untrusted) as
 * HTML after DOMPurify; the Content-Security-Policy is the second wall: scripts and styles
 * only from this origin (no inline script, no eval), no plugins, no framing, images only from
 * here (a report cannot load a tracking pixel), connections only back to this origin (its
 * WebSocket and APIs). Plus `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
 *
 * The page's one inline element, its import map, is allowed by its hash, read from
 * index.html at start, so editing the map cannot silently break the page.
 */
export function pageSecurityHeaders(indexHtmlPath: string, exceptPath: string): RequestHandler {
  const page = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", ...importMapHashes(indexHtmlPath)],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Whether the site is HTTPS-only (and its subdomains) is the operator's proxy's call.
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  // Bull Board's own page has inline scripts of its own: it gets the rest, not the CSP.
  const dashboard = helmet({ contentSecurityPolicy: false, strictTransportSecurity: false });
  return (req, res, next) => (req.path.startsWith(exceptPath) ? dashboard : page)(req, res, next);
}

/** CSP hashes of the page's inline import maps (the only inline scripts it has). */
function importMapHashes(indexHtmlPath: string): string[] {
  const html = readFileSync(indexHtmlPath, 'utf8');
  const maps = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)];
  return maps.map((m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`);
}
