-- init-work-queue: KEYS = data, state, count, sched, queue, run, done, cancel; no ARGV.
-- Recomputes the scheduled and running counters from the sets (at every node start).
local scheduled = redis.call('SCARD', KEYS[4])
local running = redis.call('SCARD', KEYS[6])
redis.call('HSET', KEYS[3], KEYS[4], scheduled)
redis.call('HSET', KEYS[3], KEYS[6], running)
return {scheduled, running, redis.call('HINCRBY', KEYS[3], KEYS[7], 0), redis.call('HINCRBY', KEYS[3], KEYS[8], 0)}
