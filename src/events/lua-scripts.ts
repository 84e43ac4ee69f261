/**
 * Redis scripts of the event path. Each runs atomically, so the seq counter, the stored
 * log and the live channel never disagree on order, and a state change and the events
 * that announce it are one step.
 *
 * Session keys, in this order, for every script:
 *   KEYS[1] state hash, KEYS[2] seq counter, KEYS[3] log stream, KEYS[4] live channel
 * Frames are stored in the stream under field `f` with the id `<seq>-0`, so a resume reads
 * by seq directly, and published joined by "\n" (JSON never holds a raw newline).
 */
const PRELUDE = `
local function append(tails, maxlen, ttl, keepTtl)
  local frames = {}
  local seq = 0
  -- One INCRBY numbers them all (one call instead of one per frame).
  if #tails > 0 then seq = redis.call('INCRBY', KEYS[2], #tails) - #tails end
  for i, tail in ipairs(tails) do
    seq = seq + 1
    local frame = '{"seq":' .. seq .. ',' .. tail
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, seq .. '-0', 'f', frame)
    frames[i] = frame
  end
  if #frames > 0 then
    redis.call('PUBLISH', KEYS[4], table.concat(frames, '\\n'))
  end
  if not keepTtl then
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('EXPIRE', KEYS[2], ttl)
    redis.call('EXPIRE', KEYS[3], ttl)
  end
  return seq
end
local function stateTail(state, runId, ts)
  local data = '{"state":"' .. state .. '"'
  if runId and runId ~= '' then data = data .. ',"runId":"' .. runId .. '"' end
  return '"event":"session.state","data":' .. data .. '},"ts":"' .. ts .. '"}'
end
local function currentState()
  return redis.call('HGET', KEYS[1], 'state') or 'IDLE'
end
`;

/**
 * Appends events. With a guard run id, appends only while that run is the session's
 * running one, so nothing of a finished or cancelled run can follow its terminal event.
 * A run's own events leave the keys' TTL alone: beginning and ending the run refresh it,
 * which saves three EXPIREs on every delta.
 * KEYS[5] run hash (checkpoint). ARGV: maxlen, ttl, guardRunId, onceField, nTails, pickField,
 * tails..., then field/value pairs to HSET on the run hash in the same step. With a onceField,
 * nothing is done when the run hash already has that field (an event that must be written
 * once). With a pickField, the tails are nTails (value, tail) pairs and only the tail whose
 * value is the run hash's pickField is appended (run.started, whose mode the run's record
 * holds).
 * Returns the last seq, -1 when the guard refused, -2 when onceField skipped it, -3 when no
 * pair matched.
 */
export const APPEND_EVENTS = `${PRELUDE}
local maxlen, ttl, guard, once, n, pick = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
if guard ~= '' then
  if currentState() ~= 'EXECUTING' or redis.call('HGET', KEYS[1], 'runId') ~= guard then
    return -1
  end
end
if once ~= '' and redis.call('HEXISTS', KEYS[5], once) == 1 then return -2 end
local tails = {}
local rest = 7 + n
if pick == '' then
  for i = 1, n do tails[i] = ARGV[6 + i] end
else
  local value = redis.call('HGET', KEYS[5], pick)
  for i = 0, n - 1 do
    if ARGV[7 + 2 * i] == value then tails[1] = ARGV[8 + 2 * i] end
  end
  if #tails == 0 then return -3 end
  rest = 7 + 2 * n
end
local fields = {}
for i = rest, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then
  redis.call('HSET', KEYS[5], unpack(fields))
end
return append(tails, maxlen, ttl, guard ~= '')
`;

/**
 * Starts a run when the session's state and the user's run limits allow it.
 * KEYS[5] run hash, KEYS[6] the user's running runs (zset runId → start ms),
 * KEYS[7] the user's runs-this-minute counter, KEYS[8] the deployment's started-not-ended
 * runs (zset "sessionKey|runId" → ms), from which a lost job is queued again.
 * ARGV: maxlen, ttl, allowedStates (comma separated), runId, mode, input, nowMs, ts,
 *       task userMessageTail, task runQueuedTail, maxActive, maxPerMinute, pendingMember,
 *       refinement userMessageTail, refinement runQueuedTail
 * mode `auto` is the `message` command's routing, decided here in the same step: a task
 * from IDLE, a refinement from REFINEMENT_READY.
 * Returns {1, seq, mode} when started, {0, currentState} when the state refuses,
 * {0, 'LIMIT', why} when a limit does.
 */
export const BEGIN_RUN = `${PRELUDE}
local maxlen, ttl, allowed, runId, mode, input, now, ts = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local maxActive, maxPerMinute = tonumber(ARGV[11]), tonumber(ARGV[12])
local state = currentState()
if not string.find(',' .. allowed .. ',', ',' .. state .. ',', 1, true) then
  return {0, state}
end
if mode == 'auto' then
  if state == 'REFINEMENT_READY' then mode = 'refinement' else mode = 'task' end
end
local userTail, queuedTail = ARGV[9], ARGV[10]
if mode == 'refinement' then userTail, queuedTail = ARGV[14], ARGV[15] end
-- Runs whose end was never recorded (lost to a crash) stop counting after the session TTL.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', tonumber(now) - tonumber(ttl) * 1000)
if redis.call('ZCARD', KEYS[6]) >= maxActive then
  return {0, 'LIMIT', 'you already have ' .. maxActive .. ' runs going'}
end
if tonumber(redis.call('GET', KEYS[7]) or '0') >= maxPerMinute then
  return {0, 'LIMIT', 'you started ' .. maxPerMinute .. ' runs in the last minute'}
end
redis.call('INCR', KEYS[7])
redis.call('EXPIRE', KEYS[7], 60)
redis.call('ZADD', KEYS[6], now, runId)
redis.call('EXPIRE', KEYS[6], ttl)
redis.call('ZADD', KEYS[8], now, ARGV[13])
local parent = ''
if mode == 'refinement' then
  parent = redis.call('HGET', KEYS[1], 'lastRunId') or ''
  -- The refined run's stored context lives as long as the session that builds on it.
  if parent ~= '' then
    local parentKey = string.gsub(KEYS[1], ':state$', ':run:' .. parent)
    redis.call('EXPIRE', parentKey, ttl)
  end
end
redis.call('HSET', KEYS[5], 'mode', mode, 'input', input, 'parentRunId', parent, 'queuedAt', now, 'status', 'queued')
redis.call('EXPIRE', KEYS[5], ttl)
redis.call('HSET', KEYS[1], 'state', 'EXECUTING', 'runId', runId, 'runQueuedAt', now)
local seq = append({userTail, stateTail('EXECUTING', runId, ts), queuedTail}, maxlen, ttl)
return {1, seq, mode}
`;

/**
 * Ends the session's running run exactly once. KEYS[5] run hash, KEYS[6] stats hash,
 * KEYS[7] the user's running runs, KEYS[8] the deployment's started-not-ended runs.
 * ARGV: maxlen, ttl, runId, outcome, nowMs, ts, terminalTail, report, durationBuckets (csv),
 *       pendingMember
 * Returns the last seq, or -1 when that run is not the running one (already ended).
 */
export const FINISH_RUN = `${PRELUDE}
local maxlen, ttl, runId, outcome, now, ts, tail, report, buckets = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if currentState() ~= 'EXECUTING' or redis.call('HGET', KEYS[1], 'runId') ~= runId then
  return -1
end
if outcome == 'completed' then
  redis.call('HSET', KEYS[1], 'report', report, 'lastRunId', runId)
  redis.call('HSET', KEYS[5], 'report', report)
end
local nextState = 'IDLE'
if redis.call('HEXISTS', KEYS[1], 'report') == 1 then nextState = 'REFINEMENT_READY' end
local queuedAt = tonumber(redis.call('HGET', KEYS[1], 'runQueuedAt') or now)
redis.call('HSET', KEYS[1], 'state', nextState)
redis.call('HDEL', KEYS[1], 'runId', 'runQueuedAt')
redis.call('HSET', KEYS[5], 'status', outcome, 'finishedAt', now)
redis.call('EXPIRE', KEYS[5], ttl)
redis.call('ZREM', KEYS[7], runId)
redis.call('ZREM', KEYS[8], ARGV[10])
local seconds = (tonumber(now) - queuedAt) / 1000
redis.call('HINCRBY', KEYS[6], 'runs:' .. outcome, 1)
redis.call('HINCRBYFLOAT', KEYS[6], 'duration:sum', seconds)
redis.call('HINCRBY', KEYS[6], 'duration:count', 1)
for le in string.gmatch(buckets, '[^,]+') do
  if seconds <= tonumber(le) then redis.call('HINCRBY', KEYS[6], 'duration:le:' .. le, 1) end
end
return append({tail, stateTail(nextState, '', ts)}, maxlen, ttl)
`;

/** The session as one consistent read. Returns {state, runId, report, lastSeq}. */
export const SNAPSHOT = `
local v = redis.call('HMGET', KEYS[1], 'state', 'runId', 'report')
local seq = redis.call('GET', KEYS[2]) or '0'
return {v[1] or 'IDLE', v[2] or '', v[3] or '', seq}
`;

/**
 * Stored frames after a seq, and whether the log still holds everything after it, read in
 * one step (a separate read of the counter could see an event appended in between).
 * KEYS[1] log stream, KEYS[2] seq counter. ARGV: afterSeq, limit.
 * Returns {complete (1|0), frame, frame, ...}.
 */
export const READ_AFTER = `
local after = tonumber(ARGV[1])
local first = string.format('%d-0', after + 1)
local entries = redis.call('XRANGE', KEYS[1], first, '+', 'COUNT', ARGV[2])
local complete = 0
if #entries > 0 then
  if entries[1][1] == first then complete = 1 end
elseif tonumber(redis.call('GET', KEYS[2]) or '0') == after then
  -- Nothing after it, and the session really ends there. A counter behind the client
  -- means Redis lost the history (restarted without persistence).
  complete = 1
end
local out = {complete}
for i, e in ipairs(entries) do out[i + 1] = e[2][2] end
return out
`;
