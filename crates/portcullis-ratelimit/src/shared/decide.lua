-- One limit's decision for one key, on the Redis server's clock, so that
-- every gateway sharing the counters agrees on time.
-- KEYS[1]: the counter. ARGV[1]: 'take' (count this request), 'give'
-- (return what 'take' counted, after another limit refused the request) or
-- 'peek' (answer as 'take' would, counting nothing).
-- ARGV[2]: 'gcra' (interval_us, burst), 'window' (window_us, limit) or
-- 'quota' (period start and end in Unix seconds, limit).
-- Returns {allowed, quota, remaining, reset_seconds, retry_after_ms}.
local key, op, alg = KEYS[1], ARGV[1], ARGV[2]
local count_it = op == 'take'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function int(n)
  return string.format('%.0f', n)
end
local function ceil_s(us)
  return math.ceil(us / 1000000)
end
local function ceil_ms(us)
  return math.max(1, math.ceil(us / 1000))
end

if alg == 'gcra' then
  local interval, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
  local capacity = interval * burst
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  if op == 'give' then
    local back = tat - interval
    if back > now then
      redis.call('SET', key, int(back), 'PX', ceil_ms(back - now))
    else
      redis.call('DEL', key)
    end
    return {1, burst, 0, 0, 0}
  end
  local new = tat + interval
  if new - now <= capacity then
    if count_it then
      redis.call('SET', key, int(new), 'PX', ceil_ms(new - now))
    end
    return {1, burst, math.floor((capacity - (new - now)) / interval), ceil_s(new - now), 0}
  end
  return {0, burst, math.floor((capacity - (tat - now)) / interval), ceil_s(tat - now), ceil_ms(new - now - capacity)}
end

if alg == 'window' then
  local window, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
  local start = now - (now % window)
  local stored = redis.call('HMGET', key, 's', 'p', 'c')
  local s, prev, cur = tonumber(stored[1]), tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
  if s == start - window then
    prev, cur = cur, 0
  elseif s ~= start then
    prev, cur = 0, 0
  end
  local left = window - (now - start)
  if op == 'give' then
    if s == start and cur > 0 then
      redis.call('HINCRBY', key, 'c', -1)
    end
    return {1, limit, 0, 0, 0}
  end
  local estimate = math.floor(prev * left / window) + cur
  if estimate < limit then
    if count_it then
      redis.call('HSET', key, 's', int(start), 'p', int(prev), 'c', int(cur + 1))
      redis.call('PEXPIRE', key, ceil_ms(2 * window))
    end
    return {1, limit, limit - estimate - 1, ceil_s(left), 0}
  end
  return {0, limit, 0, ceil_s(left), ceil_ms(left)}
end

if alg == 'quota' then
  local start, finish, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local stored = redis.call('HMGET', key, 's', 'e', 'c')
  local s, e, count = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3]) or 0
  -- Never reset backwards: a gateway whose clock is behind stays in the stored period.
  if s and s >= start then
    start, finish = s, e
  else
    count = 0
  end
  if op == 'give' then
    if s and count > 0 then
      redis.call('HINCRBY', key, 'c', -1)
    end
    return {1, limit, 0, 0, 0}
  end
  local left = math.max(finish - tonumber(t[1]), 0)
  if count < limit then
    if count_it then
      redis.call('HSET', key, 's', int(start), 'e', int(finish), 'c', int(count + 1))
      redis.call('EXPIREAT', key, int(finish + 1))
    end
    return {1, limit, limit - count - 1, left, 0}
  end
  return {0, limit, 0, left, math.max(1, left) * 1000}
end

return redis.error_reply('unknown algorithm')
