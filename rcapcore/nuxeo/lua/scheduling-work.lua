-- scheduling-work: KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = work id, "Q", serialized work. Returns {scheduled, running, completed, canceled}.
local id = ARGV[1]
if redis.call('SADD', KEYS[4], id) == 0 then
  -- already scheduled: de-duplicated, counters are only read
  return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
          redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
end
if redis.call('SISMEMBER', KEYS[6], id) == 0 then
  -- a running instance keeps its own data and state
  redis.call('HSET', KEYS[1], id, ARGV[3])
  redis.call('HSET', KEYS[2], id, ARGV[2])
end
redis.call('LPUSH', KEYS[5], id)
return {redis.call('HINCRBY', KEYS[3], KEYS[4], 1), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
