import type { AgentName, PlanItem } from '../../contract';
import type { AgentFacts, PriorFinding } from '../model-provider';
import { withoutFaults } from './offline-fault';
import { analyzeQuery, seededRandom } from './query-analysis';
import { isInstruction, steeredSteps } from './offline-steer';

/** What the offline model writes as `agent`; `question` is the Clarifier's. */
export function writeAnswer(agent: AgentName, facts: AgentFacts, question: string): string {
  switch (agent) {
    case 'planner':
      return writePlan(facts);
    case 'executor':
      return writeFinding(facts);
    case 'aggregator':
      return writeReport(facts);
    case 'clarifier':
      return writeChatAnswer(facts, question);
  }
}

/**
 * The offline model's writing: deterministic text that follows the question's subjects,
 * so the whole flow reads sensibly with no network. Figures it writes are illustrative
 * and say so.
 */
export function writePlan(facts: AgentFacts): string {
  if (facts.revision) return writeRevision(facts);
  if (facts.reviewFeedback !== undefined) return writeReviewedPlan(facts);
  const max = Math.max(2, facts.maxSubtasks ?? 6);
  const subtasks = facts.refinement ? refinementPlan(facts) : taskPlan(facts.query);
  return JSON.stringify({ subtasks: subtasks.slice(0, max) });
}

/**
 * The offline planner's revision. After a step failed: the pending steps are kept, except a
 * "Compare ..." step (it would compare without the failed step's finding), which is dropped
 * and replaced by a new step comparing what was found; no pending step: straight to the
 * report. After the person steered: their instructions, read by the rule of offline-steer.ts,
 * applied to the pending steps (kept by id; a new step has none).
 */
function writeRevision(facts: AgentFacts): string {
  const { failed, pending, steers } = facts.revision!;
  let subtasks: { stepId: string; title: string; description: string }[] = pending.map((step) => ({ ...step }));
  if (failed) {
    subtasks = subtasks.flatMap((step) =>
      /^Compare\b/.test(step.title)
        ? [
            {
              stepId: '',
              title: 'Compare what was found',
              description: `Set the findings gathered side by side, without "${failed.title}", which failed, and say what its absence leaves open.`,
            },
          ]
        : [step],
    );
  }
  for (const instruction of steers ?? []) {
    subtasks = steeredSteps(subtasks, instruction, facts.query).plan.map((p) => ({
      stepId: 'stepId' in p ? String(p.stepId) : '',
      title: p.title,
      description: p.description,
    }));
  }
  return JSON.stringify({ subtasks: subtasks.slice(0, facts.maxSubtasks ?? 6) });
}

/**
 * The offline planner's plan after a rejected review: the feedback read by the rule of
 * offline-steer.ts ("skip X", "add X"); any other feedback adds a last subtask that addresses it.
 */
function writeReviewedPlan(facts: AgentFacts): string {
  const feedback = facts.reviewFeedback ?? '';
  const steered = steeredSteps(facts.plan ?? [], feedback, facts.query);
  const plan: PlanItem[] = steered.plan.map(({ title, description }) => ({ title, description }));
  if (!steered.understood) {
    plan.push({ title: 'Address the feedback', description: `As the reviewer asked: "${feedback}".` });
  }
  return JSON.stringify({ subtasks: plan.slice(0, Math.max(2, facts.maxSubtasks ?? 6)) });
}

function taskPlan(query: string): PlanItem[] {
  const { subjects, topic, timeframe } = analyzeQuery(query);
  const when = timeframe ? ` ${timeframe}` : '';
  if (subjects.length >= 2) {
    return [
      ...subjects.map((s) => ({
        title: `Examine ${topic} of ${s}`,
        description: `Collect and assess the ${topic} of ${s}${when}, noting the main drivers.`,
      })),
      {
        title: `Compare ${listOf(subjects)}`,
        description: `Set the findings for ${listOf(subjects)} side by side and draw out the key differences.`,
      },
    ];
  }
  const subject = subjects[0] ?? topic;
  return [
    {
      title: `Frame the question about ${subject}`,
      description: `Define the scope and key terms of: "${query}".`,
    },
    {
      title: `Gather the facts on ${subject}`,
      description: `Collect the main facts about ${topic}${subjects[0] ? ` for ${subjects[0]}` : ''}${when}.`,
    },
    {
      title: `Analyse what it means for ${subject}`,
      description: `Weigh the facts, risks and open questions, and state the implications.`,
    },
  ];
}

function refinementPlan(facts: AgentFacts): PlanItem[] {
  const instruction = facts.refinement ?? '';
  const asked = analyzeQuery(instruction);
  const original = analyzeQuery(facts.query);
  const subjects = asked.subjects.length > 0 ? asked.subjects : original.subjects;
  const focus = asked.focus || original.topic;
  const items: PlanItem[] = subjects.slice(0, 4).map((s) => ({
    title: `Revisit ${s} with a focus on ${focus}`,
    description: `Take the earlier findings on ${s} and re-examine them for ${focus}.`,
  }));
  if (items.length === 0) {
    items.push({
      title: `Revisit the earlier findings`,
      description: `Re-read the earlier findings in the light of: "${instruction}".`,
    });
  }
  items.push({
    title: `Rewrite the summary as asked`,
    description: `Rewrite the report's summary following: "${instruction}".`,
  });
  return items;
}

export function writeFinding(facts: AgentFacts): string {
  const subtask = facts.subtask ?? { title: facts.query, description: facts.query };
  const query = analyzeQuery(facts.query);
  const refinement = facts.refinement ? analyzeQuery(facts.refinement) : undefined;
  const subjects = (refinement?.subjects.length ? refinement.subjects : query.subjects).filter((s) =>
    subtask.title.includes(s),
  );
  const earlier = facts.findings ?? [];
  const random = seededRandom(`${facts.query}|${subtask.title}`);
  const pct = (scale: number): string => {
    const v = (random() * 2 - 1) * scale;
    return `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`;
  };

  if (refinement) {
    const subject = subjects[0];
    const related = earlier.filter((f) => !subject || f.text.includes(subject) || f.title.includes(subject));
    const basis =
      related.length > 0 ? firstSentence(related[0].text) : 'The earlier report holds no finding on this yet.';
    const focus = refinement.focus || query.topic;
    if (!subject) {
      return `Following the request "${facts.refinement}", the summary is rewritten around ${focus}. ${earlier.length} earlier finding(s) were reviewed; the points that do not bear on ${focus} are left out.`;
    }
    return `From the earlier analysis: ${basis} Looking only at ${focus}, ${subject} showed a daily range of ${(1 + random() * 4).toFixed(1)}% on average, with its largest single-day move at ${pct(9)}; this is ${random() > 0.5 ? 'above' : 'below'} the level of the other subjects in the earlier report. (Offline model: illustrative figures, not market data.)`;
  }

  if (subjects.length >= 2 || /^Compare/.test(subtask.title)) {
    const lines = earlier.map((f) => `- ${f.title}: ${firstSentence(f.text)}`);
    return `Comparing the earlier findings:\n${lines.join('\n')}\nThe clearest difference is between the strongest and the weakest of these; the others sit in between. (Offline model: a comparison of the illustrative figures above.)`;
  }
  const subject = subjects[0] ?? query.topic;
  const when = query.timeframe ? ` ${query.timeframe}` : '';
  if (/stock|share|price|market|performance/i.test(query.topic)) {
    return `${subject}'s ${query.topic}${when} was ${pct(8)}, with an average daily move of ${(0.8 + random() * 2.5).toFixed(1)}% and a high-to-low range of ${(4 + random() * 12).toFixed(1)}%. The main drivers were ${pick(random, DRIVERS)} and ${pick(random, DRIVERS)}. (Offline model: illustrative figures, not market data.)`;
  }
  return `On "${subtask.title}": ${subtask.description} The main point is ${pick(random, POINTS)}, and ${earlier.length > 0 ? `it builds on ${earlier.length} earlier finding(s)` : 'it sets the ground for the next steps'}. (Offline model: illustrative text.)`;
}

export function writeReport(facts: AgentFacts): string {
  const findings = facts.findings ?? [];
  const plan = facts.plan ?? [];
  const query = withoutFaults(facts.query);
  const title = facts.refinement ? `Refined report: ${facts.refinement}` : `Report: ${query}`;
  const gaps = facts.gaps ?? [];
  const summary = findings.map((f) => firstSentence(f.text)).join(' ');
  const parts = [
    `# ${title}`,
    '',
    '## Summary',
    '',
    facts.refinement
      ? `As asked ("${facts.refinement}"), this version of the report on "${query}" keeps only what bears on the request. ${summary}`
      : `This report answers "${query}" in ${plan.length} steps. ${summary}`,
    '',
    ...((facts.steers ?? []).length > 0
      ? [`As you asked while the team worked: ${facts.steers!.map((t) => `"${t}"`).join('; ')}.`, '']
      : []),
    '## Key findings',
    '',
    ...findings.map((f) => `- **${f.title}**: ${firstSentence(f.text)}`),
    '',
    ...(gaps.length > 0
      ? [
          '## Not covered',
          '',
          ...gaps.map((g) =>
            g.status === 'failed'
              ? `- **${g.title}** failed: ${g.reason}`
              : `- **${g.title}** was dropped when the plan was revised.`,
          ),
          '',
          'The findings above are incomplete without these steps.',
          '',
        ]
      : []),
    '## Details',
    '',
    ...findings.flatMap((f) => [`### ${f.title}`, '', f.text, '']),
    '---',
    '',
    '_Written by the offline model (deterministic, no network): figures are illustrative._',
  ];
  return parts.join('\n');
}

/**
 * The offline Clarifier: the live progress and what the person told the run. While a run
 * goes and asks nothing (`facts.steerable`), it reads the message by the rule of
 * offline-steer.ts and answers as JSON `{kind, reply}`: an instruction's reply says which
 * steps the planner will drop or add, or that the steps stay and later steps follow it.
 */
export function writeChatAnswer(facts: AgentFacts, question: string): string {
  const quoted = question.length > 120 ? `${question.slice(0, 117)}...` : question;
  if (facts.steerable && isInstruction(question)) {
    const steered = steeredSteps(facts.plan ?? [], question, facts.query);
    const changes = [
      ...steered.dropped.map((d) => `drop "${d.title}"`),
      ...steered.added.map((a) => `add "${a.title}"`),
    ];
    const reply = `Understood: "${quoted}" is applied before the next step${
      changes.length > 0
        ? `: the planner will ${changes.join(' and ')}.`
        : '; the steps stay as they are, and every later step and the report follow it.'
    }`;
    return JSON.stringify({ kind: 'instruction', reply });
  }
  const progress = facts.progress ?? 'No task has been started in this session yet.';
  const said = [
    (facts.steers ?? []).length > 0 ? `You told the team: ${facts.steers!.map((t) => `"${t}"`).join('; ')}.` : '',
    (facts.answers ?? []).length > 0
      ? `You answered: ${facts.answers!.map((a) => `"${a.question}" → "${a.answer}"`).join('; ')}.`
      : '',
  ].filter(Boolean);
  const text = `${progress}${said.length > 0 ? ` ${said.join(' ')}` : ''} (You asked: "${quoted}")`;
  return facts.steerable ? JSON.stringify({ kind: 'question', reply: text }) : text;
}

const DRIVERS = [
  'quarterly earnings news',
  'guidance for the coming quarter',
  'sector-wide rate expectations',
  'product announcements',
  'analyst rating changes',
  'supply-chain updates',
];
const POINTS = [
  'that the evidence points one way but rests on few sources',
  'that the main trade-off is cost against speed',
  'that the short-term and long-term views differ',
  'that the answer depends on the assumptions made at the start',
];

function pick(random: () => number, list: string[]): string {
  return list[Math.floor(random() * list.length)];
}

function listOf(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function firstSentence(text: string): string {
  const m = /^[\s\S]*?[.!?](?=\s|$)/.exec(text.trim());
  return (m ? m[0] : text.trim()).replace(/\s+/g, ' ');
}

export type { PriorFinding };
