/**
 * Redis scripts of the event path. Each runs atomically, so the seq counter, the stored
 * log and the live channel never disagree on order, and a state change and the events
 * that announce it are one step.
 *
 * Keys and arguments are named once (see RedisScript); field names come from the run and
 * session record codecs; results that are not a seq are named sentinels. Frames are stored
 * in the stream under field `f` with the id `<seq>-0`, so a resume reads by seq directly,
 * and published joined by "\n" (JSON never holds a raw newline).
 */
import { RedisScript } from '../store/redis-script';
import { ANSWER_PREFIX, RunField, STEER_PREFIX } from '../store/run-record';
import { SessionField } from '../store/session-record';

/** What a run's guarded write (APPEND_EVENTS, FINISH_RUN) returns instead of a seq. */
export const WriteSentinel = {
  /** The run is not the session's running one (it ended, or was cancelled). */
  notRunning: -1,
  /** The writer's fencing token is not the run's current one: another worker has taken the run over. */
  superseded: -2,
} as const;

/** What APPEND_ONCE returns instead of a seq: that write was made before (by another worker). */
export const ALREADY_WRITTEN = -3;

/** What ACTIVATE_RUN returns in place of a fencing token. */
export const ActivateSentinel = {
  /** The run is not the session's running one (ended, cancelled, or never began). */
  notRunning: -1,
  /** The run is the session's running one, but its record is gone. */
  noRecord: -3,
} as const;

/** The keys of one session that every appending script starts with. */
const SESSION_KEYS = ['stateKey', 'seqKey', 'logKey', 'channel'] as const;

const PRELUDE = `
local function append(tails, maxlen, ttl, keepTtl)
  local frames = {}
  local seq = 0
  -- One INCRBY numbers them all (one call instead of one per frame).
  if #tails > 0 then seq = redis.call('INCRBY', seqKey, #tails) - #tails end
  for i, tail in ipairs(tails) do
    seq = seq + 1
    local frame = '{"seq":' .. seq .. ',' .. tail
    redis.call('XADD', logKey, 'MAXLEN', '~', maxlen, seq .. '-0', 'f', frame)
    frames[i] = frame
  end
  if #frames > 0 then
    redis.call('SPUBLISH', channel, table.concat(frames, '\\n'))
  end
  if not keepTtl then
    redis.call('EXPIRE', stateKey, ttl)
    redis.call('EXPIRE', seqKey, ttl)
    redis.call('EXPIRE', logKey, ttl)
  end
  return seq
end
local function stateTail(state, runId, ts)
  local data = '{"state":"' .. state .. '"'
  if runId and runId ~= '' then data = data .. ',"runId":"' .. runId .. '"' end
  return '"event":"session.state","data":' .. data .. '},"ts":"' .. ts .. '"}'
end
local function currentState()
  return redis.call('HGET', stateKey, '${SessionField.state}') or 'IDLE'
end
local function isRunning(runId)
  return currentState() == 'EXECUTING' and redis.call('HGET', stateKey, '${SessionField.runId}') == runId
end
local function isCurrentActivation(fence)
  return fence == '' or redis.call('HGET', runKey, '${RunField.fence}') == fence
end
`;

/**
 * Appends events. With a guard run id, appends only while that run is the session's
 * running one, so nothing of a finished or cancelled run can follow its terminal event; with
 * a fence as well, only while the writer holds the run's current activation, so nothing a
 * worker writes after another has taken its run over reaches the log or a socket.
 * A run's own events leave the keys' TTL alone: beginning and ending the run refresh it,
 * which saves three EXPIREs on every delta.
 * The rest holds nTails frame tails, then field/value pairs to HSET on the run hash in the
 * same step (a checkpoint). Returns the last seq, or an WriteSentinel.
 */
export const APPEND_EVENTS = new RedisScript({
  name: 'append',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey'],
  args: ['maxlen', 'ttl', 'guard', 'fence', 'nTails'],
  body: `${PRELUDE}
local n = tonumber(nTails)
if guard ~= '' then
  if not isRunning(guard) then return ${WriteSentinel.notRunning} end
  if not isCurrentActivation(fence) then return ${WriteSentinel.superseded} end
end
local tails = {}
for i = 0, n - 1 do tails[i + 1] = ARGV[REST + i] end
local fields = {}
for i = REST + n, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then
  redis.call('HSET', runKey, unpack(fields))
end
return append(tails, maxlen, ttl, guard ~= '')
`,
});

/**
 * Appends events that must be written once, whoever tries (a chat job's answer: a clarifier
 * that stalled past its lock and wakes up after another answered the same job writes
 * nothing). `writeId` is recorded in the session's `written` hash in the same step. The rest
 * holds the frame tails. Returns the last seq, or ALREADY_WRITTEN.
 */
export const APPEND_ONCE = new RedisScript({
  name: 'append_once',
  writes: true,
  keys: [...SESSION_KEYS, 'writtenKey'],
  args: ['maxlen', 'ttl', 'writeId'],
  body: `${PRELUDE}
if redis.call('HSETNX', writtenKey, writeId, '1') == 0 then return ${ALREADY_WRITTEN} end
redis.call('EXPIRE', writtenKey, ttl)
local tails = {}
for i = REST, #ARGV do tails[#tails + 1] = ARGV[i] end
return append(tails, maxlen, ttl, false)
`,
});

/**
 * A worker takes a run (first, or over from one that crashed or stalled): raises the run's
 * fencing token and returns it, so that from now on only this worker's writes are taken,
 * with the run's record as it stands after every write of an earlier holder that was taken.
 * The first activation also announces the run: run.started in the mode its record holds
 * (`taskTail` or `refinementTail`), once. Returns {fence, record (HGETALL)}; or
 * {ActivateSentinel.notRunning, whether the record exists} or {ActivateSentinel.noRecord}.
 */
export const ACTIVATE_RUN = new RedisScript({
  name: 'activate',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey'],
  args: ['maxlen', 'ttl', 'runId', 'taskTail', 'refinementTail'],
  body: `${PRELUDE}
if not isRunning(runId) then return {${ActivateSentinel.notRunning}, redis.call('EXISTS', runKey)} end
local mode = redis.call('HGET', runKey, '${RunField.mode}')
if not mode then return {${ActivateSentinel.noRecord}} end
local fence = redis.call('HINCRBY', runKey, '${RunField.fence}', 1)
if redis.call('HSETNX', runKey, '${RunField.started}', '1') == 1 then
  local tail = taskTail
  if mode == 'refinement' then tail = refinementTail end
  append({tail}, maxlen, ttl, true)
end
return {fence, redis.call('HGETALL', runKey)}
`,
});

/**
 * Admits a run under the user's limits, before its session is asked (v2 "Redis Cluster": the
 * user's keys and the session's live on different slots, so no one script may touch both).
 * `activeRuns`: the user's running runs (zset runId → start ms); `runsThisMinute`: the user's
 * counter; `userSessions`: the user's stored sessions (sessionId → when a run last began).
 * Returns {1, added} when admitted (`added` 1 when the session joined the user's list, so a
 * refusal further on can take exactly this admission back: see EventLog.beginRun), {0, why}
 * when a limit refuses.
 */
export const ADMIT_RUN = new RedisScript({
  name: 'admit',
  writes: true,
  keys: ['activeRuns', 'runsThisMinute', 'userSessions'],
  args: ['ttl', 'now', 'runId', 'sessionId', 'maxActive', 'maxPerMinute', 'maxSessions'],
  body: `
-- Runs whose end was never recorded (lost to a crash) stop counting after the session TTL.
redis.call('ZREMRANGEBYSCORE', activeRuns, '-inf', tonumber(now) - tonumber(ttl) * 1000)
if redis.call('ZCARD', activeRuns) >= tonumber(maxActive) then
  return {0, 'you already have ' .. maxActive .. ' runs going'}
end
if tonumber(redis.call('GET', runsThisMinute) or '0') >= tonumber(maxPerMinute) then
  return {0, 'you started ' .. maxPerMinute .. ' runs in the last minute'}
end
-- Sessions whose last run began longer ago than the TTL have expired (or soon will).
redis.call('ZREMRANGEBYSCORE', userSessions, '-inf', tonumber(now) - tonumber(ttl) * 1000)
local known = redis.call('ZSCORE', userSessions, sessionId)
if not known and redis.call('ZCARD', userSessions) >= tonumber(maxSessions) then
  return {0, 'you have ' .. maxSessions .. ' sessions stored: delete one (DELETE /sessions/{id}) or continue one of them'}
end
redis.call('INCR', runsThisMinute)
redis.call('EXPIRE', runsThisMinute, 60)
redis.call('ZADD', activeRuns, now, runId)
redis.call('EXPIRE', activeRuns, ttl)
redis.call('ZADD', userSessions, now, sessionId)
redis.call('EXPIRE', userSessions, ttl)
if known then return {1, 0} end
return {1, 1}
`,
});

/**
 * Starts an admitted run when the session's state allows it (`allowed`: a comma list).
 * mode `auto` is the `message` command's routing, decided here in the same step: a task
 * from IDLE, a refinement from REFINEMENT_READY. A refinement builds on the session's last
 * completed run, read by the caller beforehand (`expectedParent`, its record `parentRunKey`):
 * should another run have completed since, this returns {0, 'RETRY'} and the caller reads
 * again. Returns {1, seq, mode} when started, {0, currentState} when the state refuses.
 */
export const BEGIN_RUN = new RedisScript({
  name: 'begin',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey', 'runIndex', 'parentRunKey'],
  args: [
    'maxlen',
    'ttl',
    'allowed',
    'runId',
    'mode',
    'input',
    'review',
    'now',
    'ts',
    'taskUserTail',
    'taskQueuedTail',
    'refinementUserTail',
    'refinementQueuedTail',
    'expectedParent',
    'title',
  ],
  body: `${PRELUDE}
local state = currentState()
if not string.find(',' .. allowed .. ',', ',' .. state .. ',', 1, true) then
  return {0, state}
end
if mode == 'auto' then
  if state == 'REFINEMENT_READY' then mode = 'refinement' else mode = 'task' end
end
local userTail, queuedTail = taskUserTail, taskQueuedTail
if mode == 'refinement' then userTail, queuedTail = refinementUserTail, refinementQueuedTail end
local parent = ''
if mode == 'refinement' then
  parent = redis.call('HGET', stateKey, '${SessionField.lastRunId}') or ''
  if parent ~= expectedParent then return {0, 'RETRY'} end
  -- The refined run's stored context lives as long as the session that builds on it.
  if parent ~= '' then redis.call('EXPIRE', parentRunKey, ttl) end
end
redis.call('HSET', runKey, '${RunField.mode}', mode, '${RunField.input}', input, '${RunField.parentRunId}', parent,
  '${RunField.queuedAt}', now, '${RunField.status}', 'queued')
if review ~= '' then redis.call('HSET', runKey, '${RunField.review}', review) end
redis.call('EXPIRE', runKey, ttl)
redis.call('HSET', stateKey, '${SessionField.state}', 'EXECUTING', '${SessionField.runId}', runId,
  '${SessionField.runQueuedAt}', now)
-- The user's session list: the session's title (its first task) and when its runs began.
redis.call('HSETNX', stateKey, '${SessionField.title}', title)
redis.call('HSETNX', stateKey, '${SessionField.createdAt}', now)
-- A session with history but no run index is older than the index: its earlier run records
-- are not in it, so a delete must look for them.
if redis.call('EXISTS', runIndex) == 0 and redis.call('EXISTS', seqKey) == 1 then
  redis.call('HSET', stateKey, '${SessionField.unindexedRuns}', '1')
end
redis.call('ZADD', runIndex, now, runId)
redis.call('EXPIRE', runIndex, ttl)
local seq = append({userTail, stateTail('EXECUTING', runId, ts), queuedTail}, maxlen, ttl)
return {1, seq, mode}
`,
});

/**
 * Ends the session's running run exactly once, with its terminal event. A worker passes its
 * fencing token (a stale one cannot end the run); a cancel passes none. Returns {last seq,
 * seconds since the run was queued} (for COUNT_RUN), or a WriteSentinel.
 */
export const FINISH_RUN = new RedisScript({
  name: 'finish',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey'],
  args: [
    'maxlen',
    'ttl',
    'runId',
    'fence',
    'outcome',
    'now',
    'ts',
    'terminalTail',
    'report',
    'requestId',
    'resolvedTail',
  ],
  body: `${PRELUDE}
if not isRunning(runId) then return ${WriteSentinel.notRunning} end
if not isCurrentActivation(fence) then return ${WriteSentinel.superseded} end
-- An input request still open ends with the run (cancelled, or expired), said before its end.
local tails = {}
local pending = redis.call('HGET', runKey, '${RunField.pendingInput}')
if requestId ~= '' and pending and cjson.decode(pending).requestId == requestId then
  redis.call('HDEL', runKey, '${RunField.pendingInput}')
  tails[#tails + 1] = resolvedTail
end
if outcome == 'completed' then
  redis.call('HSET', stateKey, '${SessionField.report}', report, '${SessionField.lastRunId}', runId)
  redis.call('HSET', runKey, '${RunField.report}', report)
end
local nextState = 'IDLE'
if redis.call('HEXISTS', stateKey, '${SessionField.report}') == 1 then nextState = 'REFINEMENT_READY' end
local queuedAt = tonumber(redis.call('HGET', stateKey, '${SessionField.runQueuedAt}') or now)
redis.call('HSET', stateKey, '${SessionField.state}', nextState)
redis.call('HDEL', stateKey, '${SessionField.runId}', '${SessionField.runQueuedAt}')
redis.call('HSET', runKey, '${RunField.status}', outcome, '${RunField.finishedAt}', now)
redis.call('EXPIRE', runKey, ttl)
local seconds = (tonumber(now) - queuedAt) / 1000
tails[#tails + 1] = terminalTail
tails[#tails + 1] = stateTail(nextState, '', ts)
return {append(tails, maxlen, ttl), tostring(seconds)}
`,
});

/**
 * Counts an ended run in the deployment's stats: its outcome and its duration in the
 * histogram (`durationBuckets`: a comma list of upper bounds in seconds). One key of its own.
 */
export const COUNT_RUN = new RedisScript({
  name: 'count_run',
  writes: true,
  keys: ['statsKey'],
  args: ['outcome', 'seconds', 'durationBuckets'],
  body: `
local s = tonumber(seconds)
redis.call('HINCRBY', statsKey, 'runs:' .. outcome, 1)
redis.call('HINCRBYFLOAT', statsKey, 'duration:sum', s)
redis.call('HINCRBY', statsKey, 'duration:count', 1)
for le in string.gmatch(durationBuckets, '[^,]+') do
  if s <= tonumber(le) then redis.call('HINCRBY', statsKey, 'duration:le:' .. le, 1) end
end
return 1
`,
});

/** What RESOLVE_INPUT returns instead of a seq: no open request has that id (answered, ended, or never). */
export const NO_SUCH_REQUEST = -4;

/**
 * A person's answer to the run's open input request: stored beside the run (\`answer:<id>\`),
 * the request closed, and the answer announced (user.message, run.input_resolved), in one
 * step, so a second answer, a late one, or one to another run finds no open request.
 */
export const RESOLVE_INPUT = new RedisScript({
  name: 'resolve_input',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey'],
  args: ['maxlen', 'ttl', 'runId', 'requestId', 'answer', 'messageTail', 'resolvedTail'],
  body: `${PRELUDE}
if not isRunning(runId) then return ${NO_SUCH_REQUEST} end
local pending = redis.call('HGET', runKey, '${RunField.pendingInput}')
if not pending or cjson.decode(pending).requestId ~= requestId then return ${NO_SUCH_REQUEST} end
redis.call('HDEL', runKey, '${RunField.pendingInput}')
redis.call('HSET', runKey, '${ANSWER_PREFIX}' .. requestId, answer)
return append({messageTail, resolvedTail}, maxlen, ttl, true)
`,
});

/** What STEER_RUN returns instead of a seq. */
export const SteerSentinel = {
  /** The run is not the session's running one (it ended meanwhile). */
  notRunning: -1,
  /** This steer was stored before (a chat job taken over after its worker stalled). */
  alreadyWritten: ALREADY_WRITTEN,
  /** The run holds `maxSteers` instructions already. */
  tooMany: -5,
} as const;

/**
 * A person's instruction for the running run (v2 "Steering"): stored on the run as
 * `steer:<n>` (n counting up from 1), where its worker finds it at the next step boundary,
 * and announced (the `user.message` of a `run.steer`, or the Clarifier's `chat.response`
 * when it read a message as an instruction) in the same step. With a `writeId`, once only.
 * The rest holds the frame tails. Returns the last seq, or a SteerSentinel.
 */
export const STEER_RUN = new RedisScript({
  name: 'steer_run',
  writes: true,
  keys: [...SESSION_KEYS, 'runKey', 'writtenKey'],
  args: ['maxlen', 'ttl', 'runId', 'writeId', 'steer', 'maxSteers'],
  body: `${PRELUDE}
if not isRunning(runId) then return ${SteerSentinel.notRunning} end
local count = tonumber(redis.call('HGET', runKey, '${RunField.steers}') or '0')
if count >= tonumber(maxSteers) then return ${SteerSentinel.tooMany} end
if writeId ~= '' then
  if redis.call('HSETNX', writtenKey, writeId, '1') == 0 then return ${SteerSentinel.alreadyWritten} end
  redis.call('EXPIRE', writtenKey, ttl)
end
count = redis.call('HINCRBY', runKey, '${RunField.steers}', 1)
redis.call('HSET', runKey, '${STEER_PREFIX}' .. count, steer)
local tails = {}
for i = REST, #ARGV do tails[#tails + 1] = ARGV[i] end
return append(tails, maxlen, ttl, true)
`,
});

/** The session as one consistent read. Returns {state, runId, report, lastSeq}. */
export const SNAPSHOT = new RedisScript({
  name: 'snapshot',
  writes: false,
  keys: ['stateKey', 'seqKey'],
  args: [],
  body: `
local v = redis.call('HMGET', stateKey, '${SessionField.state}', '${SessionField.runId}', '${SessionField.report}')
local seq = redis.call('GET', seqKey) or '0'
return {v[1] or 'IDLE', v[2] or '', v[3] or '', seq}
`,
});

/**
 * Stored frames after a seq, and whether the log still holds everything after it, read in
 * one step (a separate read of the counter could see an event appended in between).
 * Returns {complete (1|0), frame, frame, ...}.
 */
export const READ_AFTER = new RedisScript({
  name: 'read_after',
  writes: false,
  keys: ['logKey', 'seqKey'],
  args: ['afterSeq', 'limit'],
  body: `
local after = tonumber(afterSeq)
local first = string.format('%d-0', after + 1)
local entries = redis.call('XRANGE', logKey, first, '+', 'COUNT', limit)
local complete = 0
if #entries > 0 then
  if entries[1][1] == first then complete = 1 end
elseif tonumber(redis.call('GET', seqKey) or '0') == after then
  -- Nothing after it, and the session really ends there. A counter behind the client
  -- means Redis lost the history (restarted without persistence).
  complete = 1
end
local out = {complete}
for i, e in ipairs(entries) do out[i + 1] = e[2][2] end
return out
`,
});
