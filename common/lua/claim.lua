-- claim: due retries moved to the in-flight set with a lease and a fencing
-- token, expired leases returned first (crash safety) (cs_sync_claim).
--
-- KEYS[1] retry      P{S}:retry
-- KEYS[2] inflight   P{S}:inflight
-- KEYS[3] lease      P{S}:lease
-- KEYS[4] snap       P{S}:snap
-- KEYS[5] fence      P{S}:fence
-- ARGV[1] now        ms
-- ARGV[2] lease_ms
-- ARGV[3] limit      most members claimed
-- ARGV[4..] connections whose members stay queued (the calling worker's
--           busy lanes: not claimed and handed back at every flush)
--
-- Reply: member, token, snapshot, three elements per claimed member.

local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZADD', KEYS[1], now, m)
end
local want, skip, skipped, taken = tonumber(ARGV[3]), {}, 0, 0
for i = 4, #ARGV do skip[ARGV[i]] = true end
local out = {}
while taken < want and skipped < 10 * want do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', skipped, want - taken)
  if #due == 0 then break end
  for _, m in ipairs(due) do
    if skip[string.match(m, '^[^|]*')] then
      skipped = skipped + 1
    else
      taken = taken + 1
      redis.call('ZREM', KEYS[1], m)
      local snap = redis.call('HGET', KEYS[4], m)
      if snap then
        local tok = tostring(redis.call('INCR', KEYS[5]))
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), m)
        redis.call('HSET', KEYS[3], m, tok)
        out[#out + 1] = m
        out[#out + 1] = tok
        out[#out + 1] = snap
      end
    end
  end
end
return out
