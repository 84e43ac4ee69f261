import type { PriorFinding } from '../../llm/model-provider';

/** A finding's text with what its tool calls gave, so later steps and refinements can use the figures. */
export function withEvidence(finding: PriorFinding): string {
  const lines = finding.evidence ?? [];
  return lines.length > 0 ? `${finding.text}\nTool results:\n${lines.map((l) => `- ${l}`).join('\n')}` : finding.text;
}
