import type { AgentFacts, ChatMessage } from '../../llm/model-provider';
import { withEvidence } from './evidence';
import { personSaid } from './person-said';

export function executorPrompt(facts: AgentFacts): ChatMessage[] {
  const earlier = (facts.findings ?? []).map((f, i) => `${i + 1}. ${f.title}\n${withEvidence(f)}`).join('\n\n');
  const system =
    'You are an Executor on a research team. Carry out your subtask thoroughly and concisely, ' +
    'building on the earlier results. State facts plainly; say when you are unsure.';
  const user = [
    `Question: ${facts.query}`,
    facts.refinement ? `Refinement asked for: ${facts.refinement}` : '',
    `Your subtask: ${facts.subtask?.title ?? ''}: ${facts.subtask?.description ?? ''}`,
    earlier ? `Earlier results:\n${earlier}` : 'There are no earlier results yet.',
    personSaid(facts, facts.refinement ? 'earlier' : 'now'),
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}
