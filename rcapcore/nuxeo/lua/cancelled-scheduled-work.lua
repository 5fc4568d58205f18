-- cancelled-scheduled-work: KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = work id. LREM is O(length of the queue). Returns the counters.
local id = ARGV[1]
if redis.call('LREM', KEYS[5], 0, id) == 0 then
  return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
          redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
end
redis.call('SREM', KEYS[4], id)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[1], id)
return {redis.call('HINCRBY', KEYS[3], KEYS[4], -1), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 1)}
