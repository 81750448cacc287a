-- One authentication failure of a lockout key, counted by every gateway
-- together. KEYS[1]: the failure count, KEYS[2]: how often the key was
-- locked, KEYS[3]: present while it is locked (all under one hash tag). ARGV: window_ms, max_failures,
-- lock_ms, max_lock_ms, channel, the lockout key.
-- At the limit the count starts again, the lock length doubles with each
-- lock (capped), and every gateway hears 'lock <ms> <locks> <key>'.
-- Returns the lock's length in ms, or 0.
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if failures < tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
local locks = redis.call('INCR', KEYS[2])
local length = math.min(tonumber(ARGV[3]) * 2 ^ math.min(locks - 1, 20), tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], math.max(length * 4, 86400000))
redis.call('SET', KEYS[3], '1', 'PX', string.format('%.0f', length))
redis.call('PUBLISH', ARGV[5], 'lock ' .. string.format('%.0f', length) .. ' ' .. locks .. ' ' .. ARGV[6])
return length
