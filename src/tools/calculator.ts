import Decimal from 'decimal.js';
import { z } from 'zod';
import { ToolError, type ToolDefinition } from './tool';

/** Longest expression taken: arithmetic a model writes is short, and parsing is linear. */
const MAX_EXPRESSION_CHARS = 1000;
/** Deepest nesting of parentheses and unary signs (the parser recurses). */
const MAX_DEPTH = 100;
/** Largest exponent magnitude: 10^1000000 would take seconds and megabytes. */
const MAX_EXPONENT = 1000;

/**
 * Decimal arithmetic, not binary floating point: exact to 100 significant digits, rounded
 * (half to even) past them, where the exact value has no end (1/3) or is longer (2^1000).
 * Plain notation up to 200 digits, so "17*23" is "391" and "0.1+0.2" is "0.3".
 */
const Exact = Decimal.clone({ precision: 100, rounding: Decimal.ROUND_HALF_EVEN, toExpPos: 200, toExpNeg: -200 });

const input = z.object({
  expression: z
    .string()
    .min(1)
    .max(MAX_EXPRESSION_CHARS)
    .describe('Arithmetic with + - * / % ^ and parentheses, e.g. "(17*23 - 1) / 4"'),
});

/** The built-in `calculator`: `{expression}` → its exact value as a string. Never `eval`. */
export const calculator: ToolDefinition<z.infer<typeof input>> = {
  name: 'calculator',
  description:
    'Evaluates an arithmetic expression exactly (decimal, not floating point): numbers, + - * / % ^ and parentheses. Returns the value as a string.',
  input,
  run: ({ expression }) => Promise.resolve(evaluate(expression)),
};

/** The value of `expression` as a plain decimal string; a ToolError (TOOL_INVALID_INPUT) says what is wrong. */
export function evaluate(expression: string): string {
  const parser = new Parser(expression);
  const value = parser.parse();
  if (!value.isFinite()) throw invalid('the value is not a finite number');
  return value.isZero() ? '0' : value.toString();
}

/**
 * expression := term (("+" | "-") term)*
 * term       := unary (("*" | "/" | "%") unary)*
 * unary      := ("+" | "-") unary | power      so -3^2 is -(3^2), as in mathematics
 * power      := primary ("^" unary)?           right-associative: 2^3^2 is 2^9
 * primary    := number | "(" expression ")"
 */
class Parser {
  private at = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): Decimal {
    const value = this.expression();
    this.skipSpace();
    if (this.at < this.text.length) throw invalid(`unexpected "${this.text[this.at]}" at position ${this.at + 1}`);
    return value;
  }

  private expression(): Decimal {
    let value = this.term();
    for (let op = this.peek(); op === '+' || op === '-'; op = this.peek()) {
      this.at++;
      const right = this.term();
      value = op === '+' ? value.plus(right) : value.minus(right);
    }
    return value;
  }

  private term(): Decimal {
    let value = this.unary();
    for (let op = this.peek(); op === '*' || op === '/' || op === '%'; op = this.peek()) {
      this.at++;
      const right = this.unary();
      if ((op === '/' || op === '%') && right.isZero()) throw invalid('division by zero');
      value = op === '*' ? value.times(right) : op === '/' ? value.dividedBy(right) : value.modulo(right);
    }
    return value;
  }

  private unary(): Decimal {
    const sign = this.peek();
    if (sign === '+' || sign === '-') {
      this.at++;
      const value = this.nested(() => this.unary());
      return sign === '-' ? value.negated() : value;
    }
    return this.power();
  }

  private power(): Decimal {
    const base = this.primary();
    if (this.peek() !== '^') return base;
    this.at++;
    const exponent = this.nested(() => this.unary());
    if (exponent.abs().greaterThan(MAX_EXPONENT)) throw invalid(`exponents are limited to ±${MAX_EXPONENT}`);
    if (base.isZero() && exponent.isNegative()) throw invalid('division by zero');
    return base.pow(exponent);
  }

  private primary(): Decimal {
    if (this.peek() === '(') {
      this.at++;
      const value = this.nested(() => this.expression());
      if (this.peek() !== ')') throw invalid(`missing ")" at position ${this.at + 1}`);
      this.at++;
      return value;
    }
    return this.number();
  }

  private number(): Decimal {
    this.skipSpace();
    const match = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?/.exec(this.text.slice(this.at));
    if (!match) {
      const found = this.at < this.text.length ? `"${this.text[this.at]}"` : 'the end';
      throw invalid(`expected a number at position ${this.at + 1}, found ${found}`);
    }
    this.at += match[0].length;
    return new Exact(match[0]);
  }

  private nested(parse: () => Decimal): Decimal {
    if (++this.depth > MAX_DEPTH) throw invalid(`nested more than ${MAX_DEPTH} deep`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  /** The next character that is not a space, without taking it. */
  private peek(): string | undefined {
    this.skipSpace();
    return this.text[this.at];
  }

  private skipSpace(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at])) this.at++;
  }
}

function invalid(why: string): ToolError {
  return new ToolError('TOOL_INVALID_INPUT', `not an expression the calculator takes: ${why}`);
}
