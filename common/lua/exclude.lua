-- exclude: an operator keeps a product out of a connection: never pushed
-- to it until included again (cs_sync_exclude).
--
-- KEYS[1] state      P{S}:state:C:T:ID
-- KEYS[2] retry      P{S}:retry
-- KEYS[3] exclude    P{S}:exclude:C
-- KEYS[4] counts     P{S}:counts:C
-- KEYS[5] waiting    P{S}:waiting:C
-- ARGV[1] member       "C|T:ID"
-- ARGV[2] product key  "T:ID"
--
-- Reply: 1 newly excluded, 0 already.

local added = redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
local old = redis.call('HGET', KEYS[1], 'status')
if old and old ~= 'synced' and old ~= 'skipped' then
  redis.call('HSET', KEYS[1], 'status', 'skipped', 'skip_reason', 'excluded by an operator')
  redis.call('HDEL', KEYS[1], 'next_attempt')
  redis.call('HINCRBY', KEYS[4], old, -1)
  redis.call('HINCRBY', KEYS[4], 'skipped', 1)
  redis.call('ZREM', KEYS[5], ARGV[2])
end
return added
