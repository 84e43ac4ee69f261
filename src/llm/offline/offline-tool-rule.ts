import type { AgentFacts } from '../model-provider';

/**
 * The offline model's documented tool rules (v2 "Tools": the offline model calls tools
 * deterministically by a documented rule). Only executors call tools, one call per round,
 * and only tools the call offers (a rule whose tool is not offered is passed over):
 *
 * 0. An executor whose subtask (its title, then its description) or, failing those, whose
 *    task says `ask me "<question>"` calls `ask_user` with that question first (a question in
 *    the task is the first executor's to ask), and ends its finding with "The person
 *    answered: <answer>." Then (and otherwise), one whose subtask or
 *    task names a call, ``call `<tool>` with <JSON object>`` (any offered tool, MCP tools
 *    included: ``call `mcp_files_read` with {"path": "notes.txt"}``), makes the first three
 *    such calls of the first of those texts that names any, in order, and ends its finding
 *    with "Called <tool>: <the start of the result>." for each (or "<tool> failed: <error>.").
 * 1. Otherwise, an executor whose subtask (its title, then its description) or, failing those, whose
 *    task holds an http(s) URL calls `http_fetch` with the first one, and ends its finding
 *    with "Fetched <url>: <the start of the text>" (or "The fetch failed: <error>").
 *    Otherwise, one whose subtask or task (the same order) asks to search for a quoted
 *    query (`search for "<query>"`, `search the web for "<query>"`) calls `web_search` with
 *    it, and ends its finding with "Searched for "<query>": <title> (<url>); ...".
 * 2. Otherwise, one whose subtask or task (the same order) holds a fenced JavaScript block (three backticks and `js` or `javascript`, the code,
 *    three backticks) calls `run_js` with the code of the first one, and ends its finding
 *    with "Ran the code: <value as JSON>." (and its logs), or "The code failed: <error>".
 * 3. Otherwise, one whose subtask or task (the same order) holds arithmetic expressions, two
 *    or more numbers joined by + - * / ^ (for example `17*23` or `(1200 - 950) / 950`), calls
 *    `calculator` with each of the first three expressions of the first of those texts that
 *    holds any, in order, and ends its finding with "Computed with the calculator:
 *    <expression> = <value>." for each.
 * 4. Otherwise, an executor comparing earlier findings (its subtask's title begins with
 *    "Compare") where at least two of them begin with a signed percentage (as the offline
 *    model's own findings do: "Apple's stock performance ... was +3.2%") computes the spread
 *    between the highest and the lowest, `<highest> - <lowest>`, and says so. The seed's
 *    example goes this way, so the default run shows a tool at work.
 */
export interface OfflineToolCall {
  tool: string;
  input: Record<string, unknown>;
  /** The sentence the finding ends with, given the call's result (as text) and whether it failed. */
  said(result: string, failed: boolean): string;
}

/** Most calls one step makes by rule 0, and calculations by rule 3. */
const MAX_EXPRESSIONS = 3;

/** How much of a fetched page the finding quotes. */
const QUOTED_CHARS = 300;

/** The tool calls the rules above give an executor with these facts and tools, in order (maybe none). */
export function offlineToolCalls(facts: AgentFacts, offered: ReadonlySet<string>): OfflineToolCall[] {
  const texts = [facts.subtask?.title, facts.subtask?.description, facts.query];
  // A question in the subtask is that step's to ask; one in the task, the first step's.
  const asked = offered.has('ask_user')
    ? (questionIn(facts.subtask?.title, facts.subtask?.description) ??
      ((facts.findings ?? []).length === 0 && !facts.refinement ? questionIn(facts.query) : undefined))
    : undefined;
  const named = namedCallsIn(offered, ...texts);
  if (asked !== undefined) {
    const ask: OfflineToolCall = {
      tool: 'ask_user',
      input: { question: asked },
      said: (result, failed) => (failed ? `Nobody could answer: ${result}.` : `The person answered: ${result}.`),
    };
    return [ask, ...named].slice(0, MAX_EXPRESSIONS);
  }
  if (named.length > 0) return named;
  const url = offered.has('http_fetch') ? urlIn(...texts) : undefined;
  if (url !== undefined) {
    return [
      {
        tool: 'http_fetch',
        input: { url },
        said: (result, failed) =>
          failed
            ? `The fetch failed: ${result}`
            : `Fetched ${url}: ${result.replace(/\s+/g, ' ').trim().slice(0, QUOTED_CHARS)}`,
      },
    ];
  }
  const query = offered.has('web_search') ? searchIn(...texts) : undefined;
  if (query !== undefined) {
    return [
      {
        tool: 'web_search',
        input: { query },
        said: (result, failed) =>
          failed ? `The search failed: ${result}` : `Searched for "${query}": ${hitsText(result)}.`,
      },
    ];
  }
  const code = offered.has('run_js') ? javascriptIn(...texts) : undefined;
  if (code !== undefined) {
    return [
      {
        tool: 'run_js',
        input: { code },
        said: (result, failed) => (failed ? `The code failed: ${result}` : `Ran the code: ${result}.`),
      },
    ];
  }
  if (!offered.has('calculator')) return [];
  const expressions = arithmeticAllIn(...texts);
  if (expressions.length > 0) return expressions.map(calculation);
  const spread = spreadOf(facts);
  return spread ? [spread] : [];
}

const ASK_ME = /ask me "([^"]{1,500})"/i;

/** The question of the first `ask me "<question>"` in `texts` (in order), or undefined. */
export function questionIn(...texts: (string | undefined)[]): string | undefined {
  for (const text of texts) {
    const match = text ? ASK_ME.exec(text) : null;
    if (match && match[1].trim()) return match[1].trim();
  }
  return undefined;
}

const CALL_NAMED = /call `([A-Za-z0-9_-]{1,64})` with \{/g;

/** Rule 0's calls: the first three ``call `<tool>` with {...}`` of an offered tool in the first text naming any. */
export function namedCallsIn(offered: ReadonlySet<string>, ...texts: (string | undefined)[]): OfflineToolCall[] {
  for (const text of texts) {
    const calls: OfflineToolCall[] = [];
    for (const match of (text ?? '').matchAll(CALL_NAMED)) {
      const tool = match[1];
      const json = objectAt(text ?? '', match.index + match[0].length - 1);
      if (!offered.has(tool) || json === undefined || calls.length >= MAX_EXPRESSIONS) continue;
      calls.push({
        tool,
        input: json,
        said: (result, failed) =>
          failed
            ? `${tool} failed: ${result}.`
            : `Called ${tool}: ${result.replace(/\s+/g, ' ').trim().slice(0, QUOTED_CHARS)}.`,
      });
    }
    if (calls.length > 0) return calls;
  }
  return [];
}

/** The JSON object that starts at `start` (its braces matched outside strings), or undefined. */
function objectAt(text: string, start: number): Record<string, unknown> | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      try {
        const value: unknown = JSON.parse(text.slice(start, i + 1));
        return typeof value === 'object' && value !== null && !Array.isArray(value)
          ? (value as Record<string, unknown>)
          : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const SEARCH_FOR = /search (?:the web )?for "([^"]{1,200})"/i;

/** The query of the first `search for "<query>"` in `texts` (in order), or undefined. */
export function searchIn(...texts: (string | undefined)[]): string | undefined {
  for (const text of texts) {
    const match = text ? SEARCH_FOR.exec(text) : null;
    if (match && match[1].trim()) return match[1].trim();
  }
  return undefined;
}

/** web_search's hits (as JSON text) as "<title> (<url>); ...". */
function hitsText(result: string): string {
  try {
    const hits = JSON.parse(result) as { title?: string; url?: string }[];
    return hits.length > 0 ? hits.map((h) => `${h.title ?? ''} (${h.url ?? ''})`).join('; ') : 'nothing found';
  } catch {
    return result.slice(0, 300);
  }
}

/** An http(s) URL: an IPv6 host in brackets, then anything up to a space, quote, bracket or parenthesis. */
const URL_IN_TEXT = /https?:\/\/(?:\[[0-9a-fA-F:.]+\])?[^\s"'<>\])[]*/;

/** The first http(s) URL in `texts` (in order), without trailing punctuation, or undefined. */
export function urlIn(...texts: (string | undefined)[]): string | undefined {
  for (const text of texts) {
    const match = text ? URL_IN_TEXT.exec(text) : null;
    if (match) return match[0].replace(/[.,;:!?]+$/, '');
  }
  return undefined;
}

function calculation(expression: string): OfflineToolCall {
  return {
    tool: 'calculator',
    input: { expression },
    said: (value, failed) =>
      failed
        ? `The calculator could not compute ${expression}: ${value}`
        : `Computed with the calculator: ${expression} = ${value}.`,
  };
}

const FENCED_JS = /```(?:js|javascript)[ \t]*\n([\s\S]*?)```/;

/** The code of the first fenced JavaScript block in `texts` (in order), or undefined. */
export function javascriptIn(...texts: (string | undefined)[]): string | undefined {
  for (const text of texts) {
    const match = text ? FENCED_JS.exec(text) : null;
    if (match && match[1].trim()) return match[1].trim();
  }
  return undefined;
}

const SIGNED_PERCENT = /([+-]\d+(?:\.\d+)?)%/;

function spreadOf(facts: AgentFacts): OfflineToolCall | undefined {
  if (!facts.subtask || !/^Compare\b/.test(facts.subtask.title)) return undefined;
  const figures = (facts.findings ?? []).flatMap((f) => {
    const match = SIGNED_PERCENT.exec(f.text);
    return match && f.text.indexOf(match[0]) < f.text.search(/[.!?](\s|$)/) + 1
      ? [{ title: f.title, value: Number(match[1]), text: match[1] }]
      : [];
  });
  if (figures.length < 2) return undefined;
  const high = figures.reduce((a, b) => (b.value > a.value ? b : a));
  const low = figures.reduce((a, b) => (b.value < a.value ? b : a));
  const operand = (text: string): string => (text.startsWith('-') ? `(${text})` : text.replace(/^\+/, ''));
  const expression = `${operand(high.text)} - ${operand(low.text)}`;
  return {
    ...calculation(expression),
    said: (value, failed) =>
      failed
        ? `The calculator could not compute ${expression}: ${value}`
        : `The spread between the highest (${high.title}: ${high.text}%) and the lowest (${low.title}: ${low.text}%) is ${value} percentage points (computed with the calculator: ${expression} = ${value}).`,
  };
}
const NUMBER = String.raw`\d+(?:\.\d+)?`;
const OPERAND = String.raw`\(*\s*${NUMBER}\s*\)*`;
const ARITHMETIC = new RegExp(String.raw`${OPERAND}(?:\s*[-+*/^]\s*${OPERAND})+`);

/** The first arithmetic expression in `texts` (in order), trimmed, or undefined. */
export function arithmeticIn(...texts: (string | undefined)[]): string | undefined {
  return arithmeticAllIn(...texts)[0];
}

/** The first three arithmetic expressions of the first of `texts` that holds any, trimmed. */
export function arithmeticAllIn(...texts: (string | undefined)[]): string[] {
  for (const text of texts) {
    const found = [...(text ?? '').matchAll(new RegExp(ARITHMETIC.source, 'g'))]
      .map((m) => m[0])
      .filter(balanced)
      .map((e) => e.trim());
    if (found.length > 0) return found.slice(0, MAX_EXPRESSIONS);
  }
  return [];
}

/** Parentheses that open and close in the match; a stray one (`(1+2`) is left to the model's text. */
function balanced(expression: string): boolean {
  let depth = 0;
  for (const c of expression) {
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}
