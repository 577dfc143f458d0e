-- resume: the pause goes, and the retries it parked (queued for exactly
-- its end) are due at once (cs_sync_resume).
--
-- KEYS[1] pause      P{S}:pause:C
-- KEYS[2] retry      P{S}:retry
-- ARGV[1] prefix     "C|" (the connection's members)
-- ARGV[2] now        ms
--
-- Reply: how many parked retries became due, -1 when not paused.

local untilv = redis.call('HGET', KEYS[1], 'until')
redis.call('DEL', KEYS[1])
if not untilv then return -1 end
local n = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], untilv, untilv)) do
  if string.sub(m, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZADD', KEYS[2], ARGV[2], m)
    n = n + 1
  end
end
return n
