-- compare-null-and-set: KEYS = key; ARGV = new value. Returns 1 when the key was absent and is now set, nil otherwise.
if not redis.call('GET', KEYS[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return nil
