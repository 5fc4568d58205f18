-- pop-work: KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = "R". Returns nil, or {{scheduled, running, completed, canceled}, serialized work}.
local id = redis.call('RPOP', KEYS[5])
if not id then
  return nil
end
if redis.call('SISMEMBER', KEYS[6], id) == 1 then
  -- the same id is running elsewhere: back to the end of the FIFO
  redis.call('LPUSH', KEYS[5], id)
  return nil
end
redis.call('SREM', KEYS[4], id)
redis.call('SADD', KEYS[6], id)
redis.call('HSET', KEYS[2], id, ARGV[1])
local counters = {redis.call('HINCRBY', KEYS[3], KEYS[4], -1), redis.call('HINCRBY', KEYS[3], KEYS[6], 1),
                  redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
return {counters, redis.call('HGET', KEYS[1], id)}
