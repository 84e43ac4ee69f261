import { parsePlan, PlanInvalidError } from './plan-parser';

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
