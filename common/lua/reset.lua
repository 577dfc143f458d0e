-- reset / include: an operator's reset (or include) re-queues the product
-- at once from its snapshot (cs_sync_reset_many).
--
-- KEYS[1] state      P{S}:state:C:T:ID
-- KEYS[2] retry      P{S}:retry
-- KEYS[3] snap       P{S}:snap
-- KEYS[4] counts     P{S}:counts:C
-- KEYS[5] exclude    P{S}:exclude:C
-- KEYS[6] waiting    P{S}:waiting:C
-- ARGV[1] member       "C|T:ID"
-- ARGV[2] now          ms
-- ARGV[3] product key  "T:ID"
-- ARGV[4] mode         "reset" or "include"
--
-- Reply: queued, included, excluded, no_state or no_snapshot.

if ARGV[4] == 'include' then
  redis.call('SREM', KEYS[5], ARGV[3])
  local st = redis.call('HMGET', KEYS[1], 'status', 'skip_reason')
  if st[1] ~= 'skipped' or st[2] ~= 'excluded by an operator' then return 'included' end
elseif redis.call('SISMEMBER', KEYS[5], ARGV[3]) == 1 then
  return 'excluded'
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_state' end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 'no_snapshot' end
local old = redis.call('HGET', KEYS[1], 'status') or ''
redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'attempts', 0, 'next_attempt', ARGV[2])
redis.call('HDEL', KEYS[1], 'handle', 'skip_reason')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], 'NX', ARGV[2], ARGV[3])
if old ~= 'retry_pending' then
  if old ~= '' then redis.call('HINCRBY', KEYS[4], old, -1) end
  redis.call('HINCRBY', KEYS[4], 'retry_pending', 1)
end
return 'queued'
