import { writeFinding, writePlan, writeReport } from './offline-writer';
import { createOfflineProvider } from './offline-provider';

const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';

describe('offline model', () => {
  it('plans one subtask per subject named in the query, plus a comparison', () => {
    const plan = JSON.parse(writePlan({ query: QUERY, maxSubtasks: 6 })) as { subtasks: { title: string }[] };
    expect(plan.subtasks.map((s) => s.title)).toEqual([
      'Examine stock performance of Apple',
      'Examine stock performance of Google',
      'Examine stock performance of Tesla',
      'Compare Apple, Google and Tesla',
    ]);
  });

  it('keeps plans within MAX_SUBTASKS and at least two steps for a question with no names', () => {
    const capped = JSON.parse(writePlan({ query: 'Compare A1, B2, C3, D4, E5 and F6 sales', maxSubtasks: 3 }));
    expect(capped.subtasks).toHaveLength(3);
    const generic = JSON.parse(writePlan({ query: 'how do solar panels work at night?', maxSubtasks: 6 }));
    expect(generic.subtasks.length).toBeGreaterThanOrEqual(2);
  });

  it('is deterministic and writes findings about the subtask subject', () => {
    const facts = { query: QUERY, subtask: { title: 'Examine stock performance of Tesla', description: '' } };
    expect(writeFinding(facts)).toBe(writeFinding(facts));
    expect(writeFinding(facts)).toMatch(/^Tesla's stock performance over the last month/);
  });

  it('writes a report that draws on every finding', () => {
    const findings = [
      { title: 'Apple', text: 'Apple rose 3%. More.' },
      { title: 'Tesla', text: 'Tesla fell 2%. More.' },
    ];
    const report = writeReport({ query: QUERY, plan: [], findings });
    expect(report).toMatch(/^# Report: Analyze the stock performance/);
    expect(report).toContain('Apple rose 3%.');
    expect(report).toContain('Tesla fell 2%.');
  });

  it('plans a refinement around the subject and focus it names', () => {
    const plan = JSON.parse(
      writePlan({ query: QUERY, refinement: "Rewrite the summary to focus only on Tesla's stock volatility." }),
    );
    expect(plan.subtasks[0].title).toBe('Revisit Tesla with a focus on stock volatility');
  });

  it('streams the same text word by word with a delay, in pieces of 16 words without one, and stops when aborted', async () => {
    const request = {
      agent: 'aggregator' as const,
      messages: [{ role: 'user' as const, content: 'Write the report.' }],
      facts: { query: QUERY, findings: [{ title: 'A', text: 'B.' }] },
    };
    const read = async (delayMs: number): Promise<string[]> => {
      const chunks: string[] = [];
      for await (const chunk of createOfflineProvider(delayMs).stream(request, new AbortController().signal).chunks) {
        chunks.push(chunk);
      }
      return chunks;
    };
    const words = writeReport(request.facts).match(/\S+/g)!.length;
    const paced = await read(1);
    expect(paced.join('')).toBe(writeReport(request.facts));
    expect(paced).toHaveLength(words);
    const unpaced = await read(0);
    expect(unpaced.join('')).toBe(writeReport(request.facts));
    expect(unpaced).toHaveLength(Math.ceil(words / 16));

    const controller = new AbortController();
    const slow = createOfflineProvider(50).stream(request, controller.signal);
    const iterator = slow.chunks[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort(new Error('cancelled'));
    await expect(iterator.next()).rejects.toThrow('cancelled');
  });
});

describe('offline model: the fault switch and the revision of a plan (v2 "Replanning")', () => {
  const google = { title: 'Examine stock performance of Google', description: '' };

  it('[offline-fail: <words>] fails the executor steps whose title holds the words, and nothing else', async () => {
    const model = createOfflineProvider(0);
    const query = `[offline-fail: of GOOGLE] ${QUERY}`;
    const failing = model.stream(
      { agent: 'executor', messages: [{ role: 'user', content: 'x' }], facts: { query, subtask: google } },
      new AbortController().signal,
    );
    await expect(failing.chunks[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      name: 'ModelUnavailableError',
      message: expect.stringContaining('[offline-fail: of GOOGLE]'),
    });
    // The planner reads the task without the switch; other steps are not touched.
    const plan = JSON.parse(writePlan({ query, maxSubtasks: 6 })) as { subtasks: { title: string }[] };
    expect(plan.subtasks.map((s) => s.title)).toContain('Examine stock performance of Google');
    const apple = writeFinding({ query, subtask: { title: 'Examine stock performance of Apple', description: '' } });
    expect(apple).toMatch(/^Apple's stock performance over the last month/);
  });

  it('revises a plan by keeping the pending steps and replacing a comparison that lacks the failed finding', () => {
    const revision = JSON.parse(
      writePlan({
        query: QUERY,
        maxSubtasks: 6,
        revision: {
          failed: { stepId: 'exec-2', ...google, error: 'gone' },
          finished: [],
          pending: [
            { stepId: 'exec-3', title: 'Examine stock performance of Tesla', description: 't' },
            { stepId: 'exec-4', title: 'Compare Apple, Google and Tesla', description: 'c' },
          ],
        },
      }),
    ) as { subtasks: { stepId: string; title: string }[] };
    expect(revision.subtasks.map((s) => [s.stepId, s.title])).toEqual([
      ['exec-3', 'Examine stock performance of Tesla'],
      ['', 'Compare what was found'],
    ]);
  });

  it('writes a report that says which steps failed and which were dropped', () => {
    const report = writeReport({
      query: `[offline-fail: of Google] ${QUERY}`,
      findings: [{ title: 'Examine stock performance of Apple', text: 'Apple was +1.0%.' }],
      gaps: [
        { stepId: 'exec-2', title: google.title, status: 'failed', reason: 'the provider stayed unavailable' },
        { stepId: 'exec-4', title: 'Compare Apple, Google and Tesla', status: 'dropped', reason: '' },
      ],
    });
    expect(report).toContain(`# Report: ${QUERY}`);
    expect(report).toContain('## Not covered');
    expect(report).toContain('- **Examine stock performance of Google** failed: the provider stayed unavailable');
    expect(report).toContain('- **Compare Apple, Google and Tesla** was dropped when the plan was revised.');
  });
});
