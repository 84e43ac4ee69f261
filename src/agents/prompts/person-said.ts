import type { AgentFacts } from '../../llm/model-provider';
import type { RunRecord } from '../../store/run-record';

/**
 * What the person said while the run went (v2 "Steering", "People in the loop"), as a prompt
 * section: their instructions, to follow, and their answers to the run's questions. Empty
 * when they said nothing.
 */
export function personSaid(facts: AgentFacts, when: 'now' | 'earlier' = 'now'): string {
  const steers = facts.steers ?? [];
  const answers = facts.answers ?? [];
  const lead = when === 'now' ? 'While the team worked, the person asked' : 'During the earlier run, the person asked';
  return [
    steers.length > 0 ? `${lead} (follow it):\n${steers.map((s) => `- ${s}`).join('\n')}` : '',
    answers.length > 0
      ? `The person's answers to the team's questions:\n${answers.map((a) => `- ${a.question} → ${a.answer}`).join('\n')}`
      : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}

/**
 * What the person told a run: their first `steers` instructions (all by default) and their
 * answers to its questions, in the order it asked.
 */
export function personSaidIn(
  run: Pick<RunRecord, 'steers' | 'requests' | 'answers'>,
  steers = run.steers.length,
): Pick<AgentFacts, 'steers' | 'answers'> {
  const answers = Object.entries(run.requests)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .flatMap(([requestId, request]) => {
      const answer = run.answers[requestId] as { text?: unknown } | undefined;
      return request.kind === 'question' && typeof answer?.text === 'string'
        ? [{ question: request.prompt, answer: answer.text }]
        : [];
    });
  return { steers: run.steers.slice(0, steers).map((s) => s.text), answers };
}
