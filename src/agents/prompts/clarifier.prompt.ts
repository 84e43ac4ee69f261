import type { AgentFacts, ChatMessage } from '../../llm/model-provider';
import { personSaid } from './person-said';

/**
 * The Clarifier's prompt. While a run goes and asks nothing (`facts.steerable`), the message
 * may be an instruction for the run (v2 "Steering"), and the answer says which, as JSON.
 */
export function clarifierPrompt(facts: AgentFacts, question: string): ChatMessage[] {
  const system = facts.steerable
    ? [
        'You are the Clarifier. While the team works, the user may ask a question about the work,',
        'or give an instruction for it (such as "skip Google", "also cover Microsoft", "keep it under',
        '300 words"). Decide which. Answer with JSON only: {"kind":"question","reply":"..."} where',
        'reply answers the question briefly from the live state below, or {"kind":"instruction",',
        '"reply":"..."} where reply says briefly what will change: it is applied before the next step.',
        'Do not invent progress that is not listed.',
      ].join(' ')
    : 'You are the Clarifier. While the team works, answer the user at once and briefly, ' +
      'from the live state below. Do not invent progress that is not listed.';
  const state = [
    facts.query ? `Question being worked on: ${facts.query}` : '',
    facts.progress ? `Progress: ${facts.progress}` : '',
    facts.plan && facts.steerable ? `Steps still to run:\n${facts.plan.map((p) => `- ${p.title}`).join('\n')}` : '',
    personSaid(facts),
    facts.previousReport ? `Latest report:\n${facts.previousReport}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: `${system}\n\n${state}` },
    { role: 'user', content: question },
  ];
}

/** The JSON Schema of a steerable Clarifier's answer (providers that enforce one get it). */
export const CLARIFIER_DECISION_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['question', 'instruction'] },
    reply: { type: 'string' },
  },
  required: ['kind', 'reply'],
  additionalProperties: false,
};
