/**
 * Test support: a MAWS process's output as the JSON log lines it is (LOG_FORMAT=json, the
 * default): one object per line with `level`, `time`, `role`, `pid`, `msg`, and `context`,
 * `runId`, `session`, `stepId`, `agent`, `attempt`, `thread` where they apply.
 */
export interface LogLine {
  level: string;
  time: string;
  role: string;
  pid: number;
  msg: string;
  context?: string;
  runId?: string;
  session?: string;
  stepId?: string;
  agent?: string;
  attempt?: number;
  /** With tracing on: the trace and span the line was logged in. */
  trace_id?: string;
  span_id?: string;
  /** `clarifier`: a line of the worker's clarifier thread. */
  thread?: string;
  [field: string]: unknown;
}

/** Every non-empty line of `output`, parsed; a line that is not a JSON object throws, naming it. */
export function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`a log line that is not JSON: ${line.slice(0, 300)}`);
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new Error(`a log line that is not a JSON object: ${line.slice(0, 300)}`);
      }
      return parsed as LogLine;
    });
}
