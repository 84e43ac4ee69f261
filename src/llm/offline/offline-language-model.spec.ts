import { stepCountIs, streamText, tool } from 'ai';
import { calculator } from '../../tools/calculator';
import { runTool } from '../../tools/tool-runner';
import type { AgentFacts } from '../model-provider';
import { OfflineLanguageModel, type OfflineCall } from './offline-language-model';
import { arithmeticIn } from './offline-tool-rule';
import { z } from 'zod';

const model = new OfflineLanguageModel(0);

/** The calculator as the AI SDK's tool loop calls it: through runTool, its outcome back to the model. */
const calculatorTool = tool({
  description: calculator.description,
  inputSchema: calculator.input,
  execute: async (input, { abortSignal }) => {
    const outcome = await runTool(calculator, input, {
      signal: abortSignal ?? new AbortController().signal,
      timeoutMs: 1_000,
      maxOutputChars: 10_000,
    });
    if (!outcome.ok) throw new Error(`${outcome.error?.code}: ${outcome.error?.message}`);
    return String(outcome.output);
  },
});

function executorFacts(description: string): AgentFacts {
  return {
    query: 'Compare the revenue of Apple and Google',
    subtask: { title: 'Work out the difference', description },
  };
}

async function run(call: OfflineCall, withTools = true) {
  const result = streamText({
    model,
    prompt: 'the prompt a real model would read',
    ...(withTools ? { tools: { calculator: calculatorTool } } : {}),
    stopWhen: stepCountIs(8),
    providerOptions: { offline: call as unknown as Record<string, never> },
  });
  const parts: string[] = [];
  for await (const part of result.fullStream) {
    if (part.type === 'tool-call') parts.push(`call ${part.toolName} ${JSON.stringify(part.input)}`);
    if (part.type === 'tool-result') parts.push(`result ${String(part.output)}`);
    if (part.type === 'tool-error') parts.push(`error ${String(part.error)}`);
  }
  return { parts, text: await result.text };
}

describe('OfflineLanguageModel in the AI SDK tool loop', () => {
  it('an executor whose subtask holds arithmetic calls the calculator once, then writes the value', async () => {
    const { parts, text } = await run({ agent: 'executor', facts: executorFacts('Compute 17*23 to check the total.') });
    expect(parts).toEqual(['call calculator {"expression":"17*23"}', 'result 391']);
    expect(text).toMatch(/Computed with the calculator: 17\*23 = 391\.$/);
  });

  it('takes the first expression, parentheses included, and a tool error back as its result', async () => {
    const { parts } = await run({
      agent: 'executor',
      facts: executorFacts('The change is (1200 - 950) / 950 of the old value.'),
    });
    expect(parts[0]).toBe('call calculator {"expression":"(1200 - 950) / 950"}');
    expect(parts[1]).toMatch(/^result 0\.263157894736842105263/);
    const failing = await run({ agent: 'executor', facts: executorFacts('Divide 5 / 0 for the ratio.') });
    expect(failing.parts).toEqual([
      'call calculator {"expression":"5 / 0"}',
      expect.stringMatching(/TOOL_INVALID_INPUT.*division by zero/),
    ]);
    expect(failing.text).toMatch(/The calculator could not compute .*: TOOL_INVALID_INPUT/);
  });

  it('calls no tool without arithmetic, when not offered one, or as another agent', async () => {
    expect((await run({ agent: 'executor', facts: executorFacts('Collect the main drivers.') })).parts).toEqual([]);
    expect((await run({ agent: 'executor', facts: executorFacts('Compute 17*23.') }, false)).parts).toEqual([]);
    const planner = await run({ agent: 'planner', facts: { query: 'What is 17*23?', maxSubtasks: 3 } });
    expect(planner.parts).toEqual([]);
    expect(JSON.parse(planner.text)).toHaveProperty('subtasks');
  });

  it('streams word by word and stops when aborted', async () => {
    const slow = new OfflineLanguageModel(20);
    const stop = new AbortController();
    const result = streamText({
      model: slow,
      prompt: 'p',
      abortSignal: stop.signal,
      providerOptions: { offline: { agent: 'executor', facts: executorFacts('Collect the main drivers.') } as never },
    });
    const words: string[] = [];
    await expect(
      (async () => {
        for await (const delta of result.textStream) {
          words.push(delta);
          if (words.length === 3) stop.abort(new Error('stopped'));
        }
      })(),
    ).rejects.toThrow();
    expect(words.length).toBeGreaterThanOrEqual(3);
    expect(words.length).toBeLessThan(6);
  });
});

describe('the offline tool rule', () => {
  it.each([
    [['Compute 17*23.'], '17*23'],
    [['no numbers', 'then 2 + 3 * 4 here'], '2 + 3 * 4'],
    [['growth of 3.5 ^ 2'], '3.5 ^ 2'],
    [['(1 + 2'], undefined],
    [['the year 2024 and 15 stocks'], undefined],
    [[undefined, 'a - b'], undefined],
  ])('arithmeticIn(%j) is %j', (texts, expected) => {
    expect(arithmeticIn(...texts)).toBe(expected);
  });
});

describe('the offline tool rules', () => {
  it('rule 3: each of the first three expressions, one round each, in order', async () => {
    const { parts, text } = await run({
      agent: 'executor',
      facts: executorFacts('Check 17*23, 0.1 + 0.2, 2^10 and 9-1 for the budget.'),
    });
    expect(parts).toEqual([
      'call calculator {"expression":"17*23"}',
      'result 391',
      'call calculator {"expression":"0.1 + 0.2"}',
      'result 0.3',
      'call calculator {"expression":"2^10"}',
      'result 1024',
    ]);
    expect(text).toMatch(
      /Computed with the calculator: 17\*23 = 391\.\nComputed with the calculator: 0\.1 \+ 0\.2 = 0\.3\.\nComputed with the calculator: 2\^10 = 1024\.$/,
    );
  });

  it('rule 4: a comparing step computes the spread of the earlier findings’ leading percentages', async () => {
    const facts: AgentFacts = {
      query: 'Analyze the stock performance of Apple and Tesla',
      subtask: { title: 'Compare Apple and Tesla', description: 'Set the findings side by side.' },
      findings: [
        { title: 'Examine Apple', text: "Apple's stock performance was +3.5%, with a range of 9.1%." },
        { title: 'Examine Tesla', text: "Tesla's stock performance was -2.25%, with a range of 4.0%." },
        { title: 'Examine the market', text: 'No figure in the first sentence. It rose 50%.' },
      ],
    };
    const { parts, text } = await run({ agent: 'executor', facts });
    expect(parts).toEqual(['call calculator {"expression":"3.5 - (-2.25)"}', 'result 5.75']);
    expect(text).toContain(
      'The spread between the highest (Examine Apple: +3.5%) and the lowest (Examine Tesla: -2.25%) is 5.75 percentage points (computed with the calculator: 3.5 - (-2.25) = 5.75).',
    );
  });
});

describe('the offline run_js rule', () => {
  it('a fenced JavaScript block is run with run_js, before any arithmetic', async () => {
    const calls: unknown[] = [];
    const runJsTool = tool({
      description: 'runs code',
      inputSchema: z.object({ code: z.string() }),
      execute: (input) => {
        calls.push(input);
        return Promise.resolve({ value: 6, logs: ['hi'] });
      },
    });
    const facts = executorFacts('Check 2*3 with:\n```js\nconsole.log("hi"); 2 * 3\n```\nthen report.');
    const result = streamText({
      model,
      prompt: 'p',
      tools: { calculator: calculatorTool, run_js: runJsTool },
      stopWhen: stepCountIs(8),
      providerOptions: { offline: { agent: 'executor', facts } as unknown as Record<string, never> },
    });
    const text = await result.text;
    expect(calls).toEqual([{ code: 'console.log("hi"); 2 * 3' }]);
    expect(text).toMatch(/Ran the code: \{"value":6,"logs":\["hi"\]\}\.$/);
  });
});
