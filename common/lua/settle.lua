-- settle: one outcome applied (cs_sync_settle, pipelined): synced, retry
-- (next delay from the schedule, with jitter), failed, paused (no attempt
-- charged), skipped, deleted, pending (handle recorded), release.
--
-- KEYS[1]  state     P{S}:state:C:T:ID
-- KEYS[2]  retry     P{S}:retry
-- KEYS[3]  inflight  P{S}:inflight
-- KEYS[4]  lease     P{S}:lease
-- KEYS[5]  snap      P{S}:snap
-- KEYS[6]  index     P{S}:index:C
-- KEYS[7]  stats     P{S}:stats:C
-- KEYS[8]  errors    P{S}:errors:C
-- KEYS[9]  counts    P{S}:counts:C
-- KEYS[10] history   P{S}:history:C:T:ID
-- KEYS[11] tally     P{S}:tally:C:B (this 5-minute bucket)
-- KEYS[12] waiting   P{S}:waiting:C
-- ARGV[1]  member       "C|T:ID"
-- ARGV[2]  version
-- ARGV[3]  token        the lease's fencing token ("" for a fresh push)
-- ARGV[4]  kind         synced retry failed paused skipped deleted pending release
-- ARGV[5]  now          ms
-- ARGV[6]  remote_id
-- ARGV[7]  code
-- ARGV[8]  subcode
-- ARGV[9]  type
-- ARGV[10] message
-- ARGV[11] trace
-- ARGV[12] resume_at    ms
-- ARGV[13] max_attempts
-- ARGV[14] delays       retry.schedule_ms, csv
-- ARGV[15] jitter_pct
-- ARGV[16] rand         0..999
-- ARGV[17] product key  "T:ID"
-- ARGV[18] handle
-- ARGV[19] warnings
--
-- Reply: {result, attempts, next attempt}; result is synced, retry,
-- failed, paused, skipped, deleted, cleaned, pending, released,
-- superseded, fenced or overtaken (cs_sync_job's settle_result).

local old = redis.call('HGET', KEYS[1], 'status') or ''
-- The product's last ten attempts, newest first (catalogsyncctl show).
-- The version is spliced in as written (digits from C): cjson would
-- write a number above 10^14 as 9.007199254741e+15.
local function remember(kind, attempts)
  local rest = cjson.encode({at = tonumber(ARGV[5]), outcome = kind, attempt = attempts,
    code = ARGV[7], message = ARGV[10]})
  redis.call('LPUSH', KEYS[10], '{"version":' .. ARGV[2] .. ',' .. string.sub(rest, 2))
  redis.call('LTRIM', KEYS[10], 0, 9)
end
local function apply()
local m, v, now, kind = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5]), ARGV[4]
if ARGV[3] ~= '' then
  -- The lease was taken over (expired and claimed again, or fenced by
  -- begin) while this worker pushed or confirmed: its outcome changes
  -- nothing.  One of an older version than Redis holds may still have
  -- reached the channel after the newer one was pushed: "overtaken", and
  -- the worker queues the newest version again (requeue_overtaken).
  if redis.call('HGET', KEYS[4], m) ~= ARGV[3] then
    if kind ~= 'release' and kind ~= 'pending' and
       tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') > tonumber(ARGV[2]) then
      return {'overtaken', 0, 0}
    end
    return {'fenced', 0, 0}
  end
  if kind ~= 'pending' then
    redis.call('HDEL', KEYS[4], m)
    redis.call('ZREM', KEYS[3], m)
  end
end
-- No state: the product was removed (a newer version's delete settled)
-- while this outcome was on its way; recording it would bring back a
-- product without a version.
local stored = redis.call('HGET', KEYS[1], 'version')
if not stored then return {'superseded', 0, 0} end
local cur = tonumber(stored)
-- A release hands the claim back untouched; a lease holder's release
-- of an overtaken version also makes the newer version queued behind
-- its lease (begin: "deferred") due now, as any outcome of it does.
-- The newer version queued behind this one (begin: "deferred", behind
-- a lease or an owner's push) is due once this one is done with.
local waited = ARGV[3] ~= '' or redis.call('HGET', KEYS[1], 'behind') == ARGV[2]
local function wake()
  if redis.call('ZSCORE', KEYS[2], m) then redis.call('ZADD', KEYS[2], now, m) end
  redis.call('HDEL', KEYS[1], 'behind')
end
if kind == 'release' then
  if v >= cur then
    redis.call('ZADD', KEYS[2], tonumber(ARGV[12]), m)
    -- A fresh push handed back (its connection's lane busy): queued, in no
    -- worker's hands, claimed when a lane has room.
    if ARGV[3] == '' and redis.call('HGET', KEYS[1], 'status') == 'pending' then
      redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'next_attempt', ARGV[12])
      redis.call('HDEL', KEYS[1], 'owner', 'owner_until')
    end
  elseif waited then wake() end
  return {'released', 0, tonumber(ARGV[12])}
end
if v < cur then
  if kind == 'pending' then return {'superseded', 0, 0} end
  if waited then
    wake()
    return {'superseded', 0, 0}
  end
  -- A push that nothing waited for: the newer version was pushed while
  -- this one was in flight (its owner's time ran out), and this one may
  -- have reached the channel after it.
  return {'overtaken', 0, 0}
end
-- A request carrying the product left (accepted, confirmed, or an
-- outcome naming its remote id): it may be at the channel.
if kind == 'pending' or kind == 'synced' or ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'pushed', 1)
end
if kind == 'deleted' or kind == 'synced' or kind == 'skipped' then
  redis.call('ZREM', KEYS[12], ARGV[17])
end
if kind == 'deleted' then
  redis.call('DEL', KEYS[1], KEYS[10])
  redis.call('HDEL', KEYS[5], m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('SREM', KEYS[6], ARGV[17])
  -- No remote id: the product never reached the channel (the connection
  -- never held it); only its records went.
  if ARGV[6] == '' then return {'cleaned', 0, 0} end
  redis.call('HINCRBY', KEYS[7], 'deleted_total', 1)
  return {'deleted', 0, 0}
end
if kind == 'pending' then
  redis.call('HSET', KEYS[1], 'status', 'pending', 'handle', ARGV[18], 'last_attempt', now)
  -- Due again then unless settled before: a worker that died while
  -- confirming is followed by one that polls the handle.
  if tonumber(ARGV[12]) > 0 then
    redis.call('HSET', KEYS[1], 'next_attempt', ARGV[12], 'owner_until', ARGV[12])
    redis.call('ZADD', KEYS[2], ARGV[12], m)
  end
  return {'pending', 0, 0}
end
redis.call('HDEL', KEYS[1], 'owner', 'owner_until', 'behind')
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if kind == 'synced' then
  redis.call('HSET', KEYS[1], 'status', 'synced', 'synced_version', ARGV[2], 'last_success', now,
    'last_attempt', now, 'attempts', attempts + 1, 'remote_id', ARGV[6])
  if ARGV[19] ~= '' then redis.call('HSET', KEYS[1], 'warnings', ARGV[19])
  else redis.call('HDEL', KEYS[1], 'warnings') end
  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'skip_reason')
  redis.call('ZREM', KEYS[2], m)
  redis.call('HINCRBY', KEYS[7], 'synced_total', 1)
  remember('synced', attempts + 1)
  return {'synced', attempts + 1, 0}
end
if kind == 'skipped' then
  redis.call('HSET', KEYS[1], 'status', 'skipped', 'skip_reason', ARGV[10], 'last_attempt', now)
  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt')
  redis.call('ZREM', KEYS[2], m)
  remember('skipped', attempts)
  return {'skipped', attempts, 0}
end
redis.call('HSET', KEYS[1], 'last_error_code', ARGV[7], 'last_error_subcode', ARGV[8],
  'last_error_type', ARGV[9], 'last_error_message', ARGV[10], 'last_error_trace', ARGV[11],
  'last_error_at', now, 'last_attempt', now)
-- A batch that may still apply this version keeps its handle (a retry
-- carrying it, a pause), to be polled before anything is pushed again; a
-- failure, or a retry without it (Meta said the batch did not apply it),
-- drops it.
if ARGV[18] ~= '' then redis.call('HSET', KEYS[1], 'handle', ARGV[18])
elseif kind ~= 'paused' then redis.call('HDEL', KEYS[1], 'handle') end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'remote_id', ARGV[6]) end
redis.call('LPUSH', KEYS[8], cjson.encode({product = ARGV[17], kind = kind, at = now,
  code = ARGV[7], subcode = ARGV[8], type = ARGV[9], message = ARGV[10], trace = ARGV[11]}))
redis.call('LTRIM', KEYS[8], 0, 49)
if kind == 'paused' then
  local at = tonumber(ARGV[12])
  redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'next_attempt', at)
  redis.call('ZADD', KEYS[2], at, m)
  redis.call('HINCRBY', KEYS[7], 'paused_total', 1)
  return {'paused', attempts, at}
end
attempts = attempts + 1
if kind == 'failed' or attempts >= tonumber(ARGV[13]) then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'attempts', attempts)
  redis.call('HDEL', KEYS[1], 'next_attempt')
  redis.call('ZREM', KEYS[2], m)
  redis.call('HINCRBY', KEYS[7], 'failed_total', 1)
  remember('failed', attempts)
  return {'failed', attempts, 0}
end
local delays = {}
for d in string.gmatch(ARGV[14], '[^,]+') do delays[#delays + 1] = tonumber(d) end
local d = delays[math.min(attempts, #delays)]
local j = tonumber(ARGV[15])
if j > 0 then d = d + math.floor(d * j / 100 * (tonumber(ARGV[16]) / 500 - 1)) end
if d < 0 then d = 0 end
local due = now + d
redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'attempts', attempts, 'next_attempt', due)
redis.call('ZADD', KEYS[2], due, m)
redis.call('HINCRBY', KEYS[7], 'retry_total', 1)
remember('retry', attempts)
return {'retry', attempts, due}
end
local res = apply()
-- The 5-minute tally counts what was decided: a retry on the last
-- attempt is a failure, a delete of what never reached the channel
-- (no remote id) nothing.
local counted = {synced = 1, retry = 1, failed = 1, paused = 1, skipped = 1, deleted = 1}
if counted[res[1]] then
  redis.call('HINCRBY', KEYS[11], res[1], 1)
  redis.call('PEXPIRE', KEYS[11], 90000000)
end
local new = redis.call('HGET', KEYS[1], 'status') or ''
if new ~= old then
  if old ~= '' then redis.call('HINCRBY', KEYS[9], old, -1) end
  if new ~= '' then redis.call('HINCRBY', KEYS[9], new, 1) end
end
return res
