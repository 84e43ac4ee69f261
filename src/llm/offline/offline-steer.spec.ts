import { isInstruction, steeredSteps } from './offline-steer';

const QUERY = 'Analyze the stock performance of Apple, Google, and Tesla over the last quarter.';
const PLAN = [
  { stepId: 'exec-1', title: 'Examine stock performance of Apple', description: '' },
  { stepId: 'exec-2', title: 'Examine stock performance of Google', description: '' },
  { stepId: 'exec-3', title: 'Compare Apple, Google and Tesla', description: '' },
];

describe('the offline reading of an instruction', () => {
  it('tells instructions from questions by their first word and a closing question mark', () => {
    expect(isInstruction('Skip Google')).toBe(true);
    expect(isInstruction('please also include Microsoft')).toBe(true);
    expect(isInstruction("Don't mention prices")).toBe(true);
    expect(isInstruction('Keep it under 300 words')).toBe(true);
    expect(isInstruction('How far along is it?')).toBe(false);
    expect(isInstruction('Skip Google?')).toBe(false);
    expect(isInstruction('What about Microsoft')).toBe(false);
  });

  it('"skip X" drops the steps naming X, never the comparison; ids kept', () => {
    const steered = steeredSteps(PLAN, 'Skip Google, please.', QUERY);
    expect(steered.plan.map((s) => s.title)).toEqual([
      'Examine stock performance of Apple',
      'Compare Apple, Google and Tesla',
    ]);
    expect(steered.dropped.map((s) => s.stepId)).toEqual(['exec-2']);
    expect(steered.understood).toBe(true);
  });

  it('"add X" adds a step before the comparison, unless a step names X already', () => {
    const steered = steeredSteps(PLAN, 'Also include Microsoft', QUERY);
    expect(steered.plan.map((s) => s.title)).toEqual([
      'Examine stock performance of Apple',
      'Examine stock performance of Google',
      'Examine stock performance of Microsoft',
      'Compare Apple, Google and Tesla',
    ]);
    expect(steeredSteps(PLAN, 'add Apple', QUERY).added).toEqual([]);
  });

  it('anything else, or a name not capitalised, changes no step', () => {
    for (const text of ['Keep the report short', 'skip google']) {
      const steered = steeredSteps(PLAN, text, QUERY);
      expect(steered.plan).toEqual(PLAN);
      expect(steered.understood).toBe(false);
    }
  });
});
