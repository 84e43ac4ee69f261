/** Test support: what the end-to-end scenarios are made of: the seed's texts, and fresh names. */
import { randomBytes } from 'node:crypto';

/** The seed's task. */
export const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';
/** The seed's question while the task runs. */
export const CHAT = 'What is the current status?';
/** The seed's refinement of the report. */
export const REFINE = "Rewrite the summary to focus only on Tesla's stock volatility.";

/** A name no other test (or earlier run against the same Redis) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
