-- cancelled-running-work (reschedule): KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = work id, "Q", serialized work. Returns the counters.
local id = ARGV[1]
if redis.call('SREM', KEYS[6], id) == 0 then
  return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
          redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
end
redis.call('SADD', KEYS[4], id)
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('HSET', KEYS[1], id, ARGV[3])
redis.call('LPUSH', KEYS[5], id)
return {redis.call('HINCRBY', KEYS[3], KEYS[4], 1), redis.call('HINCRBY', KEYS[3], KEYS[6], -1),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 1)}
