import 'reflect-metadata';
import { plainToInstance, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsOptional,
  IsString,
  MaxLength,
  MinLength,
  ValidateNested,
  ValidationError,
  validateSync,
} from 'class-validator';
import type { PlanItem, RunErrorCode } from '../contract';

class PlanItemDto {
  @IsString() @MinLength(1) @MaxLength(300) title!: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
}

class RevisedItemDto extends PlanItemDto {
  @IsOptional() @IsString() @MaxLength(40) stepId?: string;
}

class RevisionDto {
  @IsArray()
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  @Type(() => RevisedItemDto)
  subtasks!: RevisedItemDto[];
}

/** A subtask of a revised plan: an existing step kept (its `stepId`), or a new one (none). */
export interface RevisedItem extends PlanItem {
  stepId?: string;
}

class PlanDto {
  @IsArray()
  @ArrayMinSize(2)
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  @Type(() => PlanItemDto)
  subtasks!: PlanItemDto[];
}

export class PlanInvalidError extends Error {
  override readonly name = 'PlanInvalidError';
  readonly code = 'PLAN_INVALID' satisfies RunErrorCode;
}

/**
 * The plan's JSON Schema, sent to providers that enforce structured output (OpenAI's strict
 * mode wants every property required and no others; `parsePlan` still checks everything).
 */
export function planJsonSchema(maxSubtasks: number): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      subtasks: {
        type: 'array',
        description: `2 to ${maxSubtasks} subtasks that, done in order, answer the question`,
        minItems: 2,
        maxItems: maxSubtasks,
        items: {
          type: 'object',
          properties: {
            title: { type: 'string', description: 'a short title' },
            description: { type: 'string', description: 'one sentence saying what to do' },
          },
          required: ['title', 'description'],
          additionalProperties: false,
        },
      },
    },
    required: ['subtasks'],
    additionalProperties: false,
  };
}

/** The message that asks the planner to repair an invalid plan, saying what was wrong. */
export function planRepairMessage(problem: string, maxSubtasks: number): string {
  return (
    `Your answer was not a valid plan: ${problem}. Answer again with JSON only, exactly of the form ` +
    `{"subtasks":[{"title":"...","description":"..."}]}, with 2 to ${maxSubtasks} subtasks, ` +
    'each with a non-empty "title". No prose, no code fence.'
  );
}

/**
 * A revised plan's JSON Schema: the subtasks still to do, each an existing step kept (its
 * `stepId`, or "" for a new subtask), none at all to go straight to the report.
 */
export function revisionJsonSchema(maxSubtasks: number): Record<string, unknown> {
  const schema = planJsonSchema(maxSubtasks);
  const subtasks = (schema.properties as Record<string, Record<string, unknown>>).subtasks;
  const items = subtasks.items as { properties: Record<string, unknown>; required: string[] };
  return {
    ...schema,
    properties: {
      subtasks: {
        ...subtasks,
        description: `0 to ${maxSubtasks} subtasks still to do, in order (none: go straight to the report)`,
        minItems: 0,
        items: {
          ...items,
          properties: {
            stepId: { type: 'string', description: 'the id of a pending step kept as it is, or "" for a new subtask' },
            ...items.properties,
          },
          required: ['stepId', ...items.required],
        },
      },
    },
  };
}

/** Parses and validates a revised plan (see revisionJsonSchema); `""` as a stepId means a new subtask. */
export function parseRevision(text: string, maxSubtasks: number): RevisedItem[] {
  const revision = plainToInstance(RevisionDto, jsonObjectOf(text));
  const errors = validateSync(revision);
  if (errors.length > 0) throw new PlanInvalidError(`the revised plan is not valid (${describe(errors).join('; ')})`);
  if (revision.subtasks.length > maxSubtasks) {
    throw new PlanInvalidError(
      `the revised plan has ${revision.subtasks.length} subtasks; at most ${maxSubtasks} are allowed`,
    );
  }
  return revision.subtasks.map((s) => ({
    ...(s.stepId ? { stepId: s.stepId.trim() } : {}),
    title: s.title.trim(),
    description: (s.description ?? '').trim(),
  }));
}

/** The answer's JSON object (a fenced code block around it tolerated). */
function jsonObjectOf(text: string): object {
  const body = text.trim().replace(/^```(?:json)?\s*|\s*```$/g, '');
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new PlanInvalidError(body ? 'the plan is not valid JSON' : 'the answer was empty');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PlanInvalidError('the plan is not a JSON object with a "subtasks" list');
  }
  return raw;
}

/** Parses and validates the planner's JSON. Tolerates a fenced code block around it. */
export function parsePlan(text: string, maxSubtasks: number): PlanItem[] {
  const raw = jsonObjectOf(text);
  const plan = plainToInstance(PlanDto, raw);
  const errors = validateSync(plan);
  if (errors.length > 0) {
    throw new PlanInvalidError(`the plan does not have 2 or more valid subtasks (${describe(errors).join('; ')})`);
  }
  if (plan.subtasks.length > maxSubtasks) {
    throw new PlanInvalidError(`the plan has ${plan.subtasks.length} subtasks; at most ${maxSubtasks} are allowed`);
  }
  return plan.subtasks.map((s) => ({ title: s.title.trim(), description: (s.description ?? '').trim() }));
}

/** class-validator's errors as short phrases: "subtasks.0.title must be a string". */
function describe(errors: ValidationError[], path = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const at = path ? `${path}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push(message.startsWith(e.property) ? `${at}${message.slice(e.property.length)}` : `${at}: ${message}`);
    }
    out.push(...describe(e.children ?? [], at));
  }
  return out.slice(0, 5);
}
