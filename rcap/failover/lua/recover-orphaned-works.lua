-- Recover the works a crashed Nuxeo node left in run:<queue> (rcap, docs/failover.md).
-- ONLY with every Nuxeo node of the cluster stopped: the run set is cluster-wide, so while any node
-- runs works of this queue their ids are in it too and must not be touched.
-- KEYS: the eight WorkManager keys of one queue, in Nuxeo's order (data, state, count, sched, queue,
-- run, done, cancel). ARGV[1]: "list" (read only), "requeue" (run them again) or "remove" (forget them).
-- Returns {mode, ids seen, requeued, removed}.
local data, state, count, sched, queue, run = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local mode = ARGV[1]
if mode ~= 'list' and mode ~= 'requeue' and mode ~= 'remove' then
  return redis.error_reply('ARGV[1] must be list, requeue or remove')
end
local ids = redis.call('SMEMBERS', run)
local requeued, removed = 0, 0
if mode == 'list' then
  return {mode, #ids, 0, 0}
end
for _, id in ipairs(ids) do
  redis.call('SREM', run, id)
  redis.call('HINCRBY', count, run, -1)
  local queued = redis.call('SISMEMBER', sched, id) == 1  -- scheduled again since the crash: already in the list
  if queued then
    redis.call('HSET', state, id, 'Q')
    requeued = requeued + 1
  elseif mode == 'requeue' and redis.call('HEXISTS', data, id) == 1 then
    redis.call('SADD', sched, id)
    redis.call('HSET', state, id, 'Q')
    redis.call('LPUSH', queue, id)
    redis.call('HINCRBY', count, sched, 1)
    requeued = requeued + 1
  else
    redis.call('HDEL', state, id)
    redis.call('HDEL', data, id)
    removed = removed + 1
  end
end
return {mode, #ids, requeued, removed}
