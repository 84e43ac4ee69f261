import type { z } from 'zod';
import type { ToolErrorCode } from '../contract';

export type { ToolErrorCode };

/** Thrown by a tool (or its runner) with the code its `tool.result` carries. */
export class ToolError extends Error {
  override readonly name = 'ToolError';

  constructor(
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A tool an agent may call: its name and description for the model, its input's schema, and what it does. */
export interface ToolDefinition<I = unknown> {
  name: string;
  description: string;
  /** Checked before `run`: a call whose input does not match is answered TOOL_INVALID_INPUT. */
  input: z.ZodType<I>;
  /** How long one call may take (ToolRunner's default when not given). */
  timeoutMs?: number;
  /** `question`: the person answers the call (ask_user); the run waits for them. */
  asks?: 'question';
  /** The call waits for the person's yes before it runs (an MCP server marked `"approval": "always"`). */
  needsApproval?: boolean;
  /** Does the work; `signal` aborts it (the call timed out, or the run stopped). */
  run(input: I, signal: AbortSignal): Promise<unknown>;
}
