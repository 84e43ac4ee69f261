import type { AgentFacts, ChatMessage } from '../../llm/model-provider';

/** The planner, asked to revise the rest of the plan after a step failed for good or the person steered. */
export function replannerPrompt(facts: AgentFacts): ChatMessage[] {
  const revision = facts.revision;
  const max = facts.maxSubtasks ?? 6;
  const why = revision?.failed
    ? 'A step of your plan failed and will not be retried.'
    : 'The person gave an instruction while the team works; if it does not change which steps run, list the pending steps as they are.';
  const system = [
    'You are the Planner of a research team.',
    why,
    'Decide what the team does with the rest: keep a pending step by giving its',
    '"stepId", add a new subtask with "stepId": "" (at most',
    `${max}), or leave a pending step out to drop it. An empty list goes straight to the`,
    'report, which will say what is missing. Finished steps stay done; do not list them.',
    'Answer with JSON only, exactly of the form',
    '{"subtasks":[{"stepId":"exec-3","title":"...","description":"..."}]}.',
  ].join(' ');
  const finished = (revision?.finished ?? []).map((s) => `- ${s.stepId} "${s.title}": ${s.finding}`).join('\n');
  const pending = (revision?.pending ?? []).map((s) => `- ${s.stepId} "${s.title}": ${s.description}`).join('\n');
  const user = [
    `Question: ${facts.query}`,
    revision?.failed ? `Failed: ${revision.failed.stepId} "${revision.failed.title}" (${revision.failed.error})` : '',
    revision?.steers ? `The person asks now:\n${revision.steers.map((s) => `- ${s}`).join('\n')}` : '',
    `Finished:\n${finished || '(none)'}`,
    `Pending:\n${pending || '(none)'}`,
  ]
    .filter(Boolean)
    .join('\n\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}
