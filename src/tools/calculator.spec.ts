import { calculator, evaluate } from './calculator';
import { ToolError } from './tool';

describe('calculator', () => {
  it.each([
    ['17*23', '391'],
    ['0.1 + 0.2', '0.3'],
    ['(17*23 - 1) / 4', '97.5'],
    ['2^10', '1024'],
    ['2^3^2', '512'],
    ['-3^2', '-9'],
    ['(-3)^2', '9'],
    ['10 % 4', '2'],
    ['1.5e3 * 2', '3000'],
    ['-(-(2))', '2'],
    ['12345678901234567890 * 98765432109876543210', '1219326311370217952237463801111263526900'],
    ['0 * -1', '0'],
  ])('%s = %s, exactly', (expression, value) => {
    expect(evaluate(expression)).toBe(value);
  });

  it('rounds only a value without end, to 100 significant digits', () => {
    expect(evaluate('1/3')).toBe(`0.${'3'.repeat(100)}`);
  });

  it.each([
    ['1/0', /division by zero/],
    ['5 % 0', /division by zero/],
    ['0^-1', /division by zero/],
    ['2^100000', /exponents are limited/],
    ['2 +', /expected a number at position 4, found the end/],
    ['(1 + 2', /missing "\)"/],
    ['1 2', /unexpected "2" at position 3/],
    ['constructor', /expected a number at position 1, found "c"/],
    ['process.exit(1)', /expected a number/],
    ['__proto__', /expected a number/],
    [`${'('.repeat(200)}1${')'.repeat(200)}`, /nested more than 100 deep/],
    [`${'-'.repeat(200)}1`, /nested more than 100 deep/],
  ])('refuses %s with TOOL_INVALID_INPUT', (expression, why) => {
    let thrown: unknown;
    try {
      evaluate(expression);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ToolError);
    expect((thrown as ToolError).code).toBe('TOOL_INVALID_INPUT');
    expect((thrown as ToolError).message).toMatch(why);
  });

  it('takes {expression} of 1 to 1000 characters', () => {
    expect(calculator.input.safeParse({ expression: '1+1' }).success).toBe(true);
    expect(calculator.input.safeParse({ expression: '' }).success).toBe(false);
    expect(calculator.input.safeParse({ expression: '1+'.repeat(600) + '1' }).success).toBe(false);
    expect(calculator.input.safeParse({ expr: '1+1' }).success).toBe(false);
  });
});
