import { z } from 'zod';
import { ToolError, type ToolDefinition } from './tool';

/**
 * `ask_user` (v2 "Tools" and "People in the loop"): the agent asks the person, and the run
 * waits for the answer, which comes back as the call's result. The step answers it (it opens
 * the request and parks the run), so `run` is never reached.
 */
export const askUser: ToolDefinition<{ question: string }> = {
  name: 'ask_user',
  description:
    'Ask the person who gave you this task a question, when the task cannot be done well without a fact only they know. ' +
    'The run waits for their answer, which comes back as the result. Ask one short, specific question.',
  input: z.object({ question: z.string().trim().min(1).max(2000) }),
  asks: 'question',
  run: () => Promise.reject(new ToolError('TOOL_FAILED', 'ask_user is answered by the person, not run')),
};
