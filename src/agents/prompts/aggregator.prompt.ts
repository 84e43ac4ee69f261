import type { AgentFacts, ChatMessage } from '../../llm/model-provider';
import { withEvidence } from './evidence';
import { personSaid } from './person-said';

export function aggregatorPrompt(facts: AgentFacts): ChatMessage[] {
  const findings = (facts.findings ?? []).map((f) => `## ${f.title}\n${withEvidence(f)}`).join('\n\n');
  const gaps = (facts.gaps ?? [])
    .map((g) => `- ${g.title} (${g.status === 'failed' ? 'failed' : 'dropped from the plan'}: ${g.reason})`)
    .join('\n');
  const system =
    'You are the Aggregator of a research team. Write one clear Markdown report from the ' +
    "team's findings: a title, a short summary, key findings as a list, then details. " +
    'Use only what the findings support.';
  const user = [
    `Question: ${facts.query}`,
    facts.refinement
      ? `Rewrite the earlier report as the user asks: ${facts.refinement}\n\nEarlier report:\n${facts.previousReport ?? ''}`
      : '',
    `Findings:\n${findings}`,
    gaps ? `Not done (say so in the report, and what it means for the answer):\n${gaps}` : '',
    personSaid(facts, facts.refinement ? 'earlier' : 'now'),
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}
