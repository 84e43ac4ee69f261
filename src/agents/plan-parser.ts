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
  validateSync,
} from 'class-validator';
import type { PlanItem } from '../events/event-types';

class PlanItemDto {
  @IsString() @MinLength(1) @MaxLength(300) title!: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
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
  readonly code = 'PLAN_INVALID';
}

/** Parses and validates the planner's JSON. Tolerates a fenced code block around it. */
export function parsePlan(text: string, maxSubtasks: number): PlanItem[] {
  const body = text.trim().replace(/^```(?:json)?\s*|\s*```$/g, '');
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new PlanInvalidError('the plan is not valid JSON');
  }
  const plan = plainToInstance(PlanDto, raw);
  const errors = typeof raw === 'object' && raw !== null ? validateSync(plan) : ['not an object'];
  if (errors.length > 0) {
    throw new PlanInvalidError(`the plan does not have 2 or more valid subtasks`);
  }
  if (plan.subtasks.length > maxSubtasks) {
    throw new PlanInvalidError(`the plan has ${plan.subtasks.length} subtasks; at most ${maxSubtasks} are allowed`);
  }
  return plan.subtasks.map((s) => ({ title: s.title.trim(), description: (s.description ?? '').trim() }));
}
