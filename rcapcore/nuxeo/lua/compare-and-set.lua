-- compare-and-set: KEYS = key; ARGV = expected, new value. Returns 1 when set (any TTL is dropped), nil otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return nil
