import type { AgentFacts, ChatMessage } from '../../llm/model-provider';

export function clarifierPrompt(facts: AgentFacts, question: string): ChatMessage[] {
  const system =
    'You are the Clarifier. While the team works, answer the user at once and briefly, ' +
    'from the live state below. Do not invent progress that is not listed.';
  const state = [
    facts.query ? `Question being worked on: ${facts.query}` : '',
    facts.progress ? `Progress: ${facts.progress}` : '',
    facts.previousReport ? `Latest report:\n${facts.previousReport}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: `${system}\n\n${state}` },
    { role: 'user', content: question },
  ];
}
