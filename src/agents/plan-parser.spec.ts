import { parsePlan, PlanInvalidError, planJsonSchema, planRepairMessage } from './plan-parser';

describe('parsePlan', () => {
  const valid = { subtasks: [{ title: 'A', description: 'a' }, { title: 'B' }] };

  it('accepts a valid plan, also inside a fenced code block', () => {
    expect(parsePlan(JSON.stringify(valid), 6)).toEqual([
      { title: 'A', description: 'a' },
      { title: 'B', description: '' },
    ]);
    expect(parsePlan('```json\n' + JSON.stringify(valid) + '\n```', 6)).toHaveLength(2);
  });

  it.each([
    ['not JSON', 'plan: do things'],
    ['one subtask', JSON.stringify({ subtasks: [{ title: 'A' }] })],
    ['no subtasks key', JSON.stringify({ steps: [] })],
    ['a title of the wrong type', JSON.stringify({ subtasks: [{ title: 1 }, { title: 'B' }] })],
    ['an empty title', JSON.stringify({ subtasks: [{ title: '' }, { title: 'B' }] })],
    ['a bare array', JSON.stringify([{ title: 'A' }, { title: 'B' }])],
  ])('rejects %s with PLAN_INVALID', (_name, text) => {
    expect(() => parsePlan(text, 6)).toThrow(PlanInvalidError);
  });

  it('rejects a plan longer than MAX_SUBTASKS', () => {
    const long = { subtasks: Array.from({ length: 7 }, (_, i) => ({ title: `T${i}` })) };
    expect(() => parsePlan(JSON.stringify(long), 6)).toThrow(/at most 6/);
  });
});

describe('the plan schema and repair message', () => {
  it('bounds the plan at MAX_SUBTASKS and requires every property (strict structured output)', () => {
    const schema = planJsonSchema(5) as any;
    expect(schema.properties.subtasks.minItems).toBe(2);
    expect(schema.properties.subtasks.maxItems).toBe(5);
    expect(schema.properties.subtasks.items.required).toEqual(['title', 'description']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('says what was wrong and what to send', () => {
    let problem = '';
    try {
      parsePlan(JSON.stringify({ subtasks: [{ title: 1 }, { title: 'B' }] }), 6);
    } catch (err) {
      problem = (err as Error).message;
    }
    expect(problem).toContain('subtasks.0.title');
    const message = planRepairMessage(problem, 6);
    expect(message).toContain(problem);
    expect(message).toContain('2 to 6 subtasks');
  });
});
