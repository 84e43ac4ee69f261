import type { StoreRefusal } from '../contract';

const PATTERNS: readonly (readonly [StoreRefusal, RegExp])[] = [
  ['OOM', /\bOOM command not allowed\b/],
  ['MISCONF', /\bMISCONF\b/],
  ['READONLY', /\bREADONLY\b/],
];

/**
 * Whether an error is Redis refusing a write for now (and which refusal), rather than a
 * fault of the write. A refused write did nothing: a script is refused at its first write,
 * before it changed anything, and a MULTI whose command is refused is discarded whole
 * (EXECABORT, its causes in `previousErrors`). So a refused write may be tried again.
 */
export function writeRefusalOf(err: unknown): StoreRefusal | undefined {
  if (!(err instanceof Error)) return undefined;
  const causes: unknown[] = (err as { previousErrors?: unknown }).previousErrors as unknown[];
  const messages = [err.message, ...(Array.isArray(causes) ? causes.map(messageOf) : [])];
  for (const message of messages) {
    for (const [refusal, pattern] of PATTERNS) if (pattern.test(message)) return refusal;
  }
  return undefined;
}

/** What each refusal means, for a person and an operator. */
export const REFUSAL_MEANING: Readonly<Record<StoreRefusal, string>> = {
  OOM: 'Redis is out of memory (maxmemory reached under noeviction)',
  MISCONF: 'Redis stopped taking writes because it cannot save to disk (MISCONF)',
  READONLY: 'Redis is a read-only replica (READONLY: a failover under way?)',
};

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
