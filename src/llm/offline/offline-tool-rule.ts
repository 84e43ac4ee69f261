/**
 * The offline model's documented tool rule (v2 "Tools": the offline model calls tools
 * deterministically by a documented rule). An executor whose subtask (its title, then its
 * description) or, failing those, whose task holds an arithmetic expression, two or more
 * numbers joined by + - * / ^ (for example `17*23` or `(1200 - 950) / 950`), calls
 * `calculator` with the first such expression, once, and writes its finding with the value.
 */
const NUMBER = String.raw`\d+(?:\.\d+)?`;
const OPERAND = String.raw`\(*\s*${NUMBER}\s*\)*`;
const ARITHMETIC = new RegExp(String.raw`${OPERAND}(?:\s*[-+*/^]\s*${OPERAND})+`);

/** The first arithmetic expression in `texts` (in order), trimmed, or undefined. */
export function arithmeticIn(...texts: (string | undefined)[]): string | undefined {
  for (const text of texts) {
    const match = text ? ARITHMETIC.exec(text) : null;
    if (match && balanced(match[0])) return match[0].trim();
  }
  return undefined;
}

/** Parentheses that open and close in the match; a stray one (`(1+2`) is left to the model's text. */
function balanced(expression: string): boolean {
  let depth = 0;
  for (const c of expression) {
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}
