import { ClientError } from '../common/client-error';
import type { InputRequest, PlanItem, PlanReviewAnswer, QuestionAnswer, ToolApprovalAnswer } from '../contract';

/** An answer of any kind of request. */
export type InputAnswer = PlanReviewAnswer | QuestionAnswer | ToolApprovalAnswer;

/** Bounds of an answer, from the config. */
export interface AnswerLimits {
  maxSubtasks: number;
  maxInputChars: number;
}

/**
 * A `run.respond` answer checked against the kind of the request it answers (v2 "People in
 * the loop"); VALIDATION_FAILED says what is wrong, and the request stays open.
 */
export function checkedAnswer(request: InputRequest, answer: unknown, limits: AnswerLimits): InputAnswer {
  const fields = answer as Record<string, unknown>;
  switch (request.kind) {
    case 'plan_review':
      return planReviewAnswer(fields, limits);
    case 'question': {
      const text = typeof fields.text === 'string' ? fields.text.trim() : '';
      if (!text || [...text].length > limits.maxInputChars) {
        throw new ClientError(
          'VALIDATION_FAILED',
          `a question's answer is {text}, 1 to ${limits.maxInputChars} characters`,
        );
      }
      return { text };
    }
    case 'tool_approval':
      if (typeof fields.approve !== 'boolean') {
        throw new ClientError('VALIDATION_FAILED', 'a tool approval answer is {approve: true} or {approve: false}');
      }
      return { approve: fields.approve };
  }
}

function planReviewAnswer(fields: Record<string, unknown>, limits: AnswerLimits): PlanReviewAnswer {
  if (fields.approve === true) {
    if (fields.plan === undefined) return { approve: true };
    return { approve: true, plan: editedPlan(fields.plan, limits) };
  }
  if (fields.approve === false) {
    const feedback = typeof fields.feedback === 'string' ? fields.feedback.trim() : '';
    if (!feedback) throw new ClientError('VALIDATION_FAILED', 'a rejected plan needs feedback: what should change');
    if ([...feedback].length > limits.maxInputChars) {
      throw new ClientError('VALIDATION_FAILED', `feedback must be at most ${limits.maxInputChars} characters`);
    }
    return { approve: false, feedback };
  }
  throw new ClientError(
    'VALIDATION_FAILED',
    'a plan review answer is {approve: true, plan?} or {approve: false, feedback}',
  );
}

/** An edited plan: 1 to MAX_SUBTASKS subtasks, each a title (and maybe a description). */
function editedPlan(plan: unknown, limits: AnswerLimits): PlanItem[] {
  if (!Array.isArray(plan) || plan.length === 0 || plan.length > limits.maxSubtasks) {
    throw new ClientError('VALIDATION_FAILED', `plan must list 1 to ${limits.maxSubtasks} subtasks`);
  }
  return plan.map((item: unknown, i) => {
    const { title, description } = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    if (typeof title !== 'string' || !title.trim() || title.length > 300) {
      throw new ClientError('VALIDATION_FAILED', `plan.${i}.title must be 1 to 300 characters`);
    }
    if (description !== undefined && (typeof description !== 'string' || description.length > 2000)) {
      throw new ClientError('VALIDATION_FAILED', `plan.${i}.description must be a string of at most 2000 characters`);
    }
    return { title: title.trim(), description: typeof description === 'string' ? description.trim() : '' };
  });
}

/** Words that approve a plan when typed as a `message`; anything else is feedback. */
const APPROVAL =
  /^\s*(yes|y|ok|okay|approve|approved|go|go ahead|looks good|lgtm|fine|sure|proceed|do it|start)\s*[.!]*\s*$/i;

const NO = /^\s*(no|n|nope|deny|denied|don't|do not|stop|refuse)\s*[.!]*\s*$/i;

/**
 * A `message` typed while a request is open, read as its answer: a plan review's approval
 * words approve and anything else is feedback; a question's answer is the text; a tool
 * approval takes yes or no (anything else is VALIDATION_FAILED, and it stays open).
 */
export function answerFromText(request: InputRequest, text: string): InputAnswer {
  switch (request.kind) {
    case 'plan_review':
      return APPROVAL.test(text) ? { approve: true } : { approve: false, feedback: text };
    case 'question':
      return { text };
    case 'tool_approval':
      if (APPROVAL.test(text) || /^\s*(allow|allowed)\s*[.!]*\s*$/i.test(text)) return { approve: true };
      if (NO.test(text)) return { approve: false };
      throw new ClientError('VALIDATION_FAILED', `answer yes or no: may ${request.toolCall?.tool ?? 'the tool'} run?`);
  }
}
