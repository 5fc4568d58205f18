-- compare-and-del: KEYS = key; ARGV = expected. Returns 1 when deleted, nil otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return nil
