-- begin: a fresh event of one product at one connection (cs_sync_begin,
-- pipelined per batch): version gate, fresh attempt count, snapshot kept,
-- any waiting or in-flight retry of an older version superseded.
--
-- KEYS[1] state      P{S}:state:C:T:ID
-- KEYS[2] retry      P{S}:retry
-- KEYS[3] snap       P{S}:snap
-- KEYS[4] index      P{S}:index:C
-- KEYS[5] inflight   P{S}:inflight
-- KEYS[6] lease      P{S}:lease
-- KEYS[7] counts     P{S}:counts:C
-- KEYS[8] exclude    P{S}:exclude:C
-- KEYS[9] waiting    P{S}:waiting:C
-- ARGV[1] member       "C|T:ID"
-- ARGV[2] version
-- ARGV[3] snapshot     the event (JSON)
-- ARGV[4] now          ms
-- ARGV[5] sku
-- ARGV[6] name
-- ARGV[7] product key  "T:ID"
-- ARGV[8] owner        this worker
-- ARGV[9] owner_until  now + retry.lease_ms
--
-- Reply: {result, status before, handle}; result is push, stale, dup,
-- held, excluded or deferred (CS_BEGIN_* in common/cs_sync.h).
--
-- Versions (at most 2^53 - 1, CS_EVENT_MAX_VERSION) are compared as Lua
-- numbers, exact up to there, and stored as the decimal string C wrote:
-- a Lua number is written back as %.17g or worse.

local f = redis.call('HMGET', KEYS[1], 'version', 'status', 'owner', 'owner_until', 'behind')
local cur_s, status, owner, behind = f[1], f[2] or '', f[3], f[5]
local cur, v, now = tonumber(cur_s or '-1'), tonumber(ARGV[2]), tonumber(ARGV[4])
local owner_until = tonumber(f[4] or '0')
local lease_end = 0
if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1 then
  lease_end = tonumber(redis.call('ZSCORE', KEYS[5], ARGV[1]) or '0')
end
if v < cur then return {'stale', status, ''} end
if v == cur then
  if status ~= 'pending' and status ~= 'not_synced' then return {'dup', status, ''} end
  -- The same version still unsettled: pushed again (a worker re-reading
  -- its own batch, or one taking over from a worker gone) unless another
  -- live worker is pushing or confirming it: a claimed retry's lease, or
  -- the owner that began it.  That worker settles it; if it dies, the
  -- lease's expiry or the recovery entry queued here pushes it.
  if lease_end > now then return {'held', status, ''} end
  if owner and owner ~= ARGV[8] and owner_until > now then
    redis.call('ZADD', KEYS[2], 'NX', owner_until, ARGV[1])
    return {'held', status, ''}
  end
  redis.call('HSET', KEYS[1], 'owner', ARGV[8], 'owner_until', ARGV[9])
  redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
  return {'push', status, redis.call('HGET', KEYS[1], 'handle') or ''}
end
-- A push of an older version begun and never settled (worker or Redis
-- gone meanwhile) may have reached the channel: remembered, as settle
-- does for a push it saw leave.
if status == 'pending' then redis.call('HSET', KEYS[1], 'pushed', 1) end
-- Excluded by an operator: kept up to date in Redis, never pushed.
if redis.call('SISMEMBER', KEYS[8], ARGV[7]) == 1 then
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'skipped', 'attempts', 0,
    'skip_reason', 'excluded by an operator', 'sku', ARGV[5], 'name', ARGV[6],
    'product', ARGV[7], 'seen_at', ARGV[4])
  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'owner', 'owner_until', 'behind')
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('HDEL', KEYS[6], ARGV[1]) == 1 then redis.call('ZREM', KEYS[5], ARGV[1]) end
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('ZREM', KEYS[9], ARGV[7])
  if status ~= 'skipped' then
    if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end
    redis.call('HINCRBY', KEYS[7], 'skipped', 1)
  end
  return {'excluded', status, ''}
end
-- An older version is still in a live worker's hands: a claimed retry
-- (its lease), or a push begun and not settled (its owner: pushing, or
-- confirming a recorded batch).  Pushing this version now could reach
-- the channel before that older write does, and a batch confirmed late
-- would leave the older version last.  This version is recorded and
-- queued behind it instead ("behind": the version it waits for); the
-- holder's settle makes it due at once, and if the holder dies it is
-- due when the lease or the owner's time ends.
local hold = 0
if lease_end > now then hold = lease_end
elseif (status == 'pending' or behind) and owner_until > now then
  hold = owner_until
  if not behind then behind = cur_s end
end
if hold > 0 then
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'retry_pending', 'attempts', 0,
    'next_attempt', hold, 'sku', ARGV[5], 'name', ARGV[6], 'product', ARGV[7],
    'seen_at', ARGV[4])
  if behind then redis.call('HSET', KEYS[1], 'behind', behind) end
  redis.call('HDEL', KEYS[1], 'handle', 'skip_reason')
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], hold, ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('ZADD', KEYS[9], 'NX', ARGV[4], ARGV[7])
  if status ~= 'retry_pending' then
    if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end
    redis.call('HINCRBY', KEYS[7], 'retry_pending', 1)
  end
  return {'deferred', status, ''}
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'pending', 'attempts', 0,
  'sku', ARGV[5], 'name', ARGV[6], 'product', ARGV[7], 'seen_at', ARGV[4],
  'owner', ARGV[8], 'owner_until', ARGV[9])
redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'behind')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
-- Durable from here: the push's outcome is settled by this worker, or,
-- should it die, this entry is claimed when the owner's time ends (the
-- worker commits the event's offset before the push ends: its lane pushes
-- on its own time).
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
if redis.call('HDEL', KEYS[6], ARGV[1]) == 1 then redis.call('ZREM', KEYS[5], ARGV[1]) end
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('ZADD', KEYS[9], 'NX', ARGV[4], ARGV[7])
if status ~= 'pending' then
  if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end
  redis.call('HINCRBY', KEYS[7], 'pending', 1)
end
return {'push', status, ''}
