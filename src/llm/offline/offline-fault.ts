import type { AgentFacts } from '../model-provider';

/**
 * The offline model's documented fault switch (v2 "Replanning" is tested with it): a task
 * holding `[offline-fail: <words>]` makes every executor step whose subtask title contains
 * those words (any case) fail for good, as a provider that stays unavailable does
 * (MODEL_UNAVAILABLE). A task may hold several. The offline model otherwise reads the task
 * without them.
 */
const FAULT = /\[offline-fail:\s*([^\]]{1,100})\]/gi;

/** The switch's words that fail this executor step, or undefined. */
export function offlineFaultOf(facts: AgentFacts): string | undefined {
  const title = facts.subtask?.title.toLowerCase();
  if (!title) return undefined;
  for (const match of facts.query.matchAll(FAULT)) {
    const words = match[1].trim();
    if (words && title.includes(words.toLowerCase())) return words;
  }
  return undefined;
}

/** The task without its fault switches, as the offline model's writing reads it. */
export function withoutFaults(text: string): string {
  return text
    .replace(FAULT, '')
    .replace(/\s{2,}/g, ' ')
    .trim();
}
