import { z } from 'zod';
import { abortError } from '../../common/abort';
import { ToolError, type ToolDefinition } from '../tool';

/** One search hit, as web_search returns it. */
export interface SearchHit {
  title: string;
  url: string;
  snippet: string;
}

/** Where web_search asks: a SearXNG instance's JSON API, or Brave Search's. */
export type SearchBackend = { kind: 'searxng'; url: string } | { kind: 'brave'; apiKey: string; url: string };

export const BRAVE_API_URL = 'https://api.search.brave.com/res/v1/web/search';

const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 10;
const MAX_SNIPPET_CHARS = 500;

const input = z.object({
  query: z.string().trim().min(1).max(500).describe('What to search the web for'),
  limit: z.number().int().min(1).max(MAX_LIMIT).optional().describe(`How many results (default ${DEFAULT_LIMIT})`),
});

/**
 * The built-in `web_search`: `{query, limit?}` → `[{title, url, snippet}]`, from SearXNG
 * (`SEARXNG_URL`, its `format=json` API) or Brave Search (`BRAVE_API_KEY`). The backend's URL
 * is the operator's, never the model's. An answer that is not the backend's JSON, or an HTTP
 * error (a 429 included), is TOOL_FAILED with what the backend said.
 */
export function createWebSearch(backend: SearchBackend, timeoutMs: number): ToolDefinition<z.infer<typeof input>> {
  return {
    name: 'web_search',
    description: 'Searches the web. Returns up to `limit` results, each {title, url, snippet}.',
    input,
    timeoutMs,
    run: async ({ query, limit = DEFAULT_LIMIT }, signal) => {
      const { url, headers } = requestOf(backend, query, limit);
      let response: Response;
      try {
        response = await fetch(url, { headers: { accept: 'application/json', ...headers }, signal, redirect: 'error' });
      } catch (err) {
        if (signal.aborted) throw abortError(signal);
        throw new ToolError('TOOL_FAILED', `the ${backend.kind} search did not answer: ${describe(err)}`);
      }
      const body = await response.text();
      if (!response.ok) {
        throw new ToolError('TOOL_FAILED', `the ${backend.kind} search answered HTTP ${response.status}${said(body)}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        throw new ToolError('TOOL_FAILED', `the ${backend.kind} search did not answer JSON`);
      }
      return hitsOf(backend, json).slice(0, limit);
    },
  };
}

function requestOf(
  backend: SearchBackend,
  query: string,
  limit: number,
): { url: URL; headers: Record<string, string> } {
  if (backend.kind === 'searxng') {
    const url = new URL('search', backend.url.endsWith('/') ? backend.url : `${backend.url}/`);
    url.searchParams.set('q', query);
    url.searchParams.set('format', 'json');
    return { url, headers: {} };
  }
  const url = new URL(backend.url);
  url.searchParams.set('q', query);
  url.searchParams.set('count', String(limit));
  return { url, headers: { 'x-subscription-token': backend.apiKey } };
}

/** The hits in the backend's answer, each field text (HTML tags and entities of snippets removed). */
function hitsOf(backend: SearchBackend, json: unknown): SearchHit[] {
  const list =
    backend.kind === 'searxng'
      ? (json as { results?: unknown }).results
      : (json as { web?: { results?: unknown } }).web?.results;
  if (!Array.isArray(list)) {
    throw new ToolError('TOOL_FAILED', `the ${backend.kind} search's answer has no results list`);
  }
  return list.flatMap((item: Record<string, unknown>) => {
    const title = typeof item.title === 'string' ? item.title : '';
    const url = typeof item.url === 'string' ? item.url : '';
    const raw = backend.kind === 'searxng' ? item.content : item.description;
    if (!url) return [];
    return [
      { title: plain(title), url, snippet: plain(typeof raw === 'string' ? raw : '').slice(0, MAX_SNIPPET_CHARS) },
    ];
  });
}

function plain(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(
      /&(amp|lt|gt|quot|#39);/g,
      (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '',
    )
    .replace(/\s+/g, ' ')
    .trim();
}

function said(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim().slice(0, 200);
  return text ? `: ${text}` : '';
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return cause ?? (err instanceof Error ? err.message : String(err));
}
