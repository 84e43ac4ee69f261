import type { PlanItem } from '../../contract';
import { analyzeQuery } from './query-analysis';

/** `word` matched in either case of its first letter (the names after it must be capitalised). */
const either = (word: string): string => `[${word[0].toUpperCase()}${word[0]}]${word.slice(1)}`;
const NAME = '([A-Z][\\w&.-]*(?:\\s+[A-Z][\\w&.-]*)*)';
const SKIP = new RegExp(
  `\\b(?:${['skip', 'drop', 'remove', 'without', 'leave out', 'exclude'].map(either).join('|')})\\s+${NAME}`,
);
const ADD = new RegExp(
  `\\b(?:${['add', 'also', 'include'].map(either).join('|')})(?:\\s+(?:add|include|cover))?\\s+${NAME}`,
);

/**
 * The offline model's reading of a person's instruction (a plan review's feedback, or a
 * steer): "skip X" (drop, remove, without, leave out, exclude) drops the steps that name X
 * (a capitalised name; never a closing "Compare ..."); "add X" (also, include) adds a step examining X before a
 * "Compare ..." step. Anything else changes no step (`understood` false).
 */
export function steeredSteps<T extends PlanItem>(
  plan: T[],
  instruction: string,
  query: string,
): { plan: (T | PlanItem)[]; dropped: T[]; added: PlanItem[]; understood: boolean } {
  const skip = SKIP.exec(instruction);
  const add = ADD.exec(instruction);
  const names = (step: PlanItem, name: string): boolean =>
    step.title.toLowerCase().includes(name.toLowerCase()) && !/^Compare\b/.test(step.title);
  const dropped = skip ? plan.filter((p) => names(p, skip[1])) : [];
  const next: (T | PlanItem)[] = plan.filter((p) => !dropped.includes(p));
  const added: PlanItem[] = [];
  if (add && !plan.some((p) => names(p, add[1]))) {
    const { topic } = analyzeQuery(query);
    added.push({
      title: `Examine ${topic} of ${add[1]}`,
      description: `Collect and assess the ${topic} of ${add[1]}.`,
    });
    const compare = next.findIndex((p) => /^Compare\b/.test(p.title));
    next.splice(compare >= 0 ? compare : next.length, 0, added[0]);
  }
  return { plan: next, dropped, added, understood: !!skip || !!add };
}

/**
 * The offline Clarifier's rule for a message typed while a run goes (v2 "Steering"): an
 * instruction when it begins (after an optional "please") with one of these verbs and does
 * not end with "?"; anything else is a question, answered as in v1.
 */
const INSTRUCTION =
  /^\s*(?:please\s+)?(?:skip|drop|remove|exclude|leave out|omit|ignore|add|also|include|focus|keep|make|limit|use|write|stop|don't|do not|avoid|only|instead|prefer|mention|cover)\b/i;

export function isInstruction(message: string): boolean {
  return INSTRUCTION.test(message) && !/\?\s*$/.test(message);
}
