/** Prices of one model, per million tokens, in whatever currency the operator uses. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** LLM_PRICES: model name → price. */
export type PriceTable = Record<string, ModelPrice>;

/**
 * Parses LLM_PRICES, e.g. `{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}`. Throws with a
 * message saying what is wrong (config validation names the variable).
 */
export function parseLlmPrices(text: string | undefined): PriceTable {
  if (text === undefined || text.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('must be JSON, e.g. {"gpt-4o-mini": {"input": 0.15, "output": 0.6}} (prices per million tokens)');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error('must be a JSON object of model name → {"input": price, "output": price}');
  }
  const table: PriceTable = {};
  for (const [model, price] of Object.entries(raw as Record<string, unknown>)) {
    const p = price as Partial<Record<'input' | 'output', unknown>> | null;
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (typeof p !== 'object' || p === null || !ok(p.input) || !ok(p.output)) {
      throw new Error(
        `the price of "${model}" must be {"input": number >= 0, "output": number >= 0} per million tokens`,
      );
    }
    table[model] = { input: p.input, output: p.output };
  }
  return table;
}

/** The cost of some tokens of `model`, or undefined when the table has no price for it. */
export function costOf(
  table: PriceTable,
  model: string,
  usage: { inputTokens: number; outputTokens: number },
): number | undefined {
  const price = table[model];
  if (!price) return undefined;
  return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
}
