-- metrics-work-queue: KEYS = data, state, count, sched, queue, run, done, cancel; no ARGV.
-- A pure read of the four counters.
return {redis.call('HINCRBY', KEYS[3], KEYS[4], 0), redis.call('HINCRBY', KEYS[3], KEYS[6], 0),
        redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
