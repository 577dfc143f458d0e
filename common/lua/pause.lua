-- pause: a connection's pause (cs_sync_pause_set); a worker's throttle or
-- auth pause never replaces an operator's.
--
-- KEYS[1] pause      P{S}:pause:C
-- ARGV[1] until      ms
-- ARGV[2] kind       throttle, auth, store or operator
-- ARGV[3] reason
-- ARGV[4] now        ms
-- ARGV[5] ttl        ms
--
-- Reply: 1 set, 0 left alone (an operator's pause holds).

if ARGV[2] ~= 'operator' and redis.call('HGET', KEYS[1], 'kind') == 'operator' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'until', ARGV[1], 'kind', ARGV[2], 'reason', ARGV[3],
  'set_at', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
