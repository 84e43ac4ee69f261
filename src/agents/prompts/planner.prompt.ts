import type { AgentFacts, ChatMessage } from '../../llm/model-provider';
import { personSaid } from './person-said';

export function plannerPrompt(facts: AgentFacts): ChatMessage[] {
  const max = facts.maxSubtasks ?? 6;
  const system = [
    "You are the Planner of a research team. Split the user's question into 2 to",
    `${max} subtasks that, done in order, answer it. Each subtask has a short "title"`,
    'and a one-sentence "description". Later subtasks see earlier results.',
    'Answer with JSON only, exactly of the form {"subtasks":[{"title":"...","description":"..."}]}.',
  ].join(' ');
  const user = facts.reviewFeedback
    ? `Question: ${facts.query}\n\nYour plan:\n${(facts.plan ?? []).map((p, i) => `${i + 1}. ${p.title}: ${p.description}`).join('\n')}\n\nThe person reviewing it asks: "${facts.reviewFeedback}". Write the plan again, changed as asked.`
    : facts.refinement
      ? [
          `The team already answered: "${facts.query}".`,
          `Earlier report:\n${facts.previousReport ?? '(none)'}`,
          personSaid(facts, 'earlier'),
          `Plan how to refine it as the user asks: "${facts.refinement}"`,
        ]
          .filter(Boolean)
          .join('\n\n')
      : facts.query;
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}
