-- running-work: KEYS = data, state, count, sched, queue, run, done, cancel
-- ARGV = work id, "R", serialized work (now RUNNING, with its start time). Returns the counters.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
