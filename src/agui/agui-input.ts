import type { Message, ResumeEntry } from '@ag-ui/core';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import { AguiHttpError } from './agui-http-error';

/** What a `POST /agui/{sessionId}` asks: a task or refinement from the last user message, or answers. */
export type AguiRequest =
  { kind: 'message'; text: string; review?: 'plan' } | { kind: 'resume'; entries: ResumeEntry[] };

/**
 * Reads a `RunAgentInput` (checked against @ag-ui/core's schema). `resume` entries make it a
 * resume (its messages are the thread so far, not new input); otherwise its last message must
 * be the person's, and its text starts a task or a refinement (`forwardedProps.review: "plan"`
 * asks for the plan's review first, as `task.start`'s `review`). 400 for anything else.
 */
export function aguiRequestOf(body: unknown, sessionId: string, maxInputChars: number): AguiRequest {
  const parsed = RunAgentInputSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new AguiHttpError(400, 'VALIDATION_FAILED', `not a RunAgentInput${where}: ${issue?.message ?? 'invalid'}`);
  }
  const input = parsed.data;
  if (input.threadId !== sessionId) {
    throw new AguiHttpError(400, 'VALIDATION_FAILED', 'threadId must be the sessionId of the path');
  }
  if (input.resume && input.resume.length > 0) return { kind: 'resume', entries: input.resume };
  const last = input.messages.at(-1) as Message | undefined;
  if (!last || last.role !== 'user') {
    throw new AguiHttpError(400, 'VALIDATION_FAILED', "the last message must be the user's (the task or refinement)");
  }
  const text = textOf(last.content).trim();
  if (text.length === 0 || text.length > maxInputChars) {
    throw new AguiHttpError(400, 'VALIDATION_FAILED', `the message must be 1 to ${maxInputChars} characters of text`);
  }
  const review = (input.forwardedProps as { review?: unknown } | undefined)?.review;
  if (review !== undefined && review !== 'plan') {
    throw new AguiHttpError(400, 'VALIDATION_FAILED', 'forwardedProps.review may only be "plan"');
  }
  return { kind: 'message', text, ...(review === 'plan' ? { review } : {}) };
}

/** A user message's text: a string, or its text parts (MAWS takes no images or files). */
function textOf(content: Extract<Message, { role: 'user' }>['content']): string {
  if (typeof content === 'string') return content;
  if (content.some((part) => part.type !== 'text')) {
    throw new AguiHttpError(400, 'VALIDATION_FAILED', 'MAWS takes text only: send the message as text parts');
  }
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}
