import type { EventLog } from '../events/event-log';
import type { PlanItem } from '../events/event-types';
import { durable } from '../events/event-types';
import { RunEventWriter } from '../events/run-event-writer';
import type { ModelProvider, PriorFinding, AgentFacts, ModelUsage } from '../llm/model-provider';
import type { RunRecord, RunStore } from '../session/run-store';
import { parsePlan } from './plan-parser';
import { aggregatorPrompt } from './prompts/aggregator.prompt';
import { executorPrompt } from './prompts/executor.prompt';
import { plannerPrompt } from './prompts/planner.prompt';
import { StepRunner } from './step-runner';

export interface ResolverOptions {
  maxSubtasks: number;
  deltaFlushMs: number;
  modelTimeoutMs: number;
}

export class RunNotFoundError extends Error {}

/** The worker is shutting down: the run goes back to the queue for another worker. */
export class HandBackError extends Error {
  constructor() {
    super('handed back to the queue');
  }
}

const MAX_KNOWLEDGE = 40;

/**
 * The resolver pipeline: planner, one executor per subtask, aggregator. Every finished
 * step's output is stored with its `agent.finished` event before the next step begins, so
 * a run taken over after a crash resumes at its first unfinished step.
 */
export class RunResolver {
  private readonly steps: StepRunner;

  constructor(
    private readonly log: EventLog,
    private readonly runs: RunStore,
    model: ModelProvider,
    private readonly options: ResolverOptions,
  ) {
    this.steps = new StepRunner(model, options.modelTimeoutMs);
  }

  /**
   * Runs (or resumes) a run to its end. `handBack` asks it to stop between steps; `signal`
   * aborts the step in progress (a cancel, or a shutdown whose grace ran out).
   */
  async resolve(sessionKey: string, runId: string, signal: AbortSignal, handBack?: AbortSignal): Promise<void> {
    const run = await this.runs.get(sessionKey, runId);
    if (!run) throw new RunNotFoundError(`run ${runId} has no stored record`);
    const writer = new RunEventWriter(this.log, sessionKey, runId, this.options.deltaFlushMs);
    const checkHandBack = (): void => {
      if (handBack?.aborted) throw new HandBackError();
    };
    try {
      const context = await this.contextOf(sessionKey, run);
      if (!run.started) {
        await writer.emit([durable('run.started', { runId, mode: run.mode })], {
          started: '1',
          query: context.query,
        });
      }
      checkHandBack();
      const plan = run.plan ?? (await this.plan(run, writer, context, signal));
      const findings: PriorFinding[] = [];
      for (const [i, subtask] of plan.entries()) {
        checkHandBack();
        const stepId = `exec-${i + 1}`;
        const stored = run.outputs[stepId] as { text: string } | undefined;
        const text = stored?.text ?? (await this.execute(run, writer, context, plan, subtask, stepId, findings, signal));
        findings.push({ title: subtask.title, text });
      }
      checkHandBack();
      const stored = run.outputs.aggregate as { report: string } | undefined;
      const report = stored?.report ?? (await this.aggregate(run, writer, context, plan, findings, signal));
      await writer.drain();
      await this.log.finishRun(sessionKey, runId, 'completed', durable('run.completed', { runId, report }), report);
    } finally {
      writer.discard();
    }
  }

  private async contextOf(sessionKey: string, run: RunRecord): Promise<AgentFacts> {
    if (run.mode === 'task' || !run.parentRunId) return { query: run.query ?? run.input };
    const parent = await this.runs.get(sessionKey, run.parentRunId);
    if (!parent) throw new RunNotFoundError(`the report to refine (run ${run.parentRunId}) is no longer stored`);
    return {
      query: parent.query ?? parent.input,
      refinement: run.input,
      findings: parent.knowledge ?? [],
      previousReport: parent.report,
    };
  }

  private async plan(run: RunRecord, writer: RunEventWriter, context: AgentFacts, signal: AbortSignal): Promise<PlanItem[]> {
    const facts = { ...context, maxSubtasks: this.options.maxSubtasks };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId: 'plan',
        agent: 'planner',
        title: 'Plan the work',
        previousAttempts: run.attempts.plan ?? 0,
        request: { agent: 'planner', messages: plannerPrompt(facts), json: true, facts },
      },
      signal,
    );
    const plan = parsePlan(result.text, this.options.maxSubtasks);
    await writer.emit(
      [durable('agent.finished', { runId: run.runId, agent: 'planner', stepId: 'plan', output: { plan }, ...usageOf(result.usage) })],
      { plan: JSON.stringify(plan), 'out:plan': JSON.stringify({ plan }), ...usageField('plan', result.usage) },
    );
    return plan;
  }

  private async execute(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    plan: PlanItem[],
    subtask: PlanItem,
    stepId: string,
    done: PriorFinding[],
    signal: AbortSignal,
  ): Promise<string> {
    const facts: AgentFacts = { ...context, plan, subtask, findings: [...(context.findings ?? []), ...done] };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId,
        agent: 'executor',
        title: subtask.title,
        previousAttempts: run.attempts[stepId] ?? 0,
        request: { agent: 'executor', messages: executorPrompt(facts), facts },
      },
      signal,
    );
    const output = { text: result.text };
    await writer.emit(
      [durable('agent.finished', { runId: run.runId, agent: 'executor', stepId, output, ...usageOf(result.usage) })],
      { [`out:${stepId}`]: JSON.stringify(output), ...usageField(stepId, result.usage) },
    );
    return result.text;
  }

  private async aggregate(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    plan: PlanItem[],
    findings: PriorFinding[],
    signal: AbortSignal,
  ): Promise<string> {
    const facts: AgentFacts = { ...context, plan, findings };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId: 'aggregate',
        agent: 'aggregator',
        title: 'Write the report',
        previousAttempts: run.attempts.aggregate ?? 0,
        request: { agent: 'aggregator', messages: aggregatorPrompt(facts), facts },
      },
      signal,
    );
    const report = result.text.trim();
    const knowledge = [...(context.findings ?? []), ...findings].slice(-MAX_KNOWLEDGE);
    await writer.emit(
      [
        durable('agent.finished', {
          runId: run.runId,
          agent: 'aggregator',
          stepId: 'aggregate',
          output: { report },
          ...usageOf(result.usage),
        }),
      ],
      { 'out:aggregate': JSON.stringify({ report }), knowledge: JSON.stringify(knowledge), ...usageField('aggregate', result.usage) },
    );
    return report;
  }
}

function usageOf(usage: ModelUsage): { usage: ModelUsage } {
  return { usage };
}

function usageField(stepId: string, usage: ModelUsage): Record<string, string> {
  return { [`usage:${stepId}`]: JSON.stringify(usage) };
}
