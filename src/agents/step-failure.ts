import type { RunError } from '../contract';
import { ModelStreamCutError, ModelUnavailableError, PermanentModelError } from '../llm/model-provider';

/**
 * What a step's model call ended with, when it failed for good (the provider's retries and
 * the step's restarts spent): the error its agent.failed (or its run.failed) carries.
 * Undefined for anything else (the run stopping, a write refused, a bug).
 */
export function stepFailureOf(err: unknown): RunError | undefined {
  if (err instanceof PermanentModelError) return { code: err.code, message: err.message };
  if (err instanceof ModelUnavailableError || err instanceof ModelStreamCutError) {
    return { code: err.code, message: err.message };
  }
  if (err instanceof Error && err.name === 'TimeoutError') {
    return { code: 'MODEL_TIMEOUT', message: 'The model did not answer in time (MODEL_TIMEOUT_MS).' };
  }
  return undefined;
}
