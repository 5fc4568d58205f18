-- completed-work: KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = work id, "" (state UNKNOWN). Returns the counters.
local id = ARGV[1]
redis.call('SREM', KEYS[6], id)
if redis.call('SISMEMBER', KEYS[4], id) == 0 then
  -- not re-scheduled meanwhile: forget the work now
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
end
return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], -1),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 1), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
