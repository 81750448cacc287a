-- The limits of one request, decided on the Redis server's clock so that
-- every gateway sharing the counters agrees on time.
-- KEYS: one counter per limit (with Redis Cluster, one key per call).
-- ARGV[1]: 'take' (count the request if every limit admits it), 'give'
-- (return what an earlier 'take' counted, after a limit elsewhere refused)
-- or 'peek' (answer as 'take' would, counting nothing). Then four values
-- per key: 'gcra' interval_us burst 0 | 'window' window_us limit 0 |
-- 'quota' period_start period_end limit (Unix seconds).
-- Returns five integers per key: allowed, quota, remaining, reset_seconds,
-- retry_after_ms.
local op = ARGV[1]
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

local function gcra(key, interval, burst, write, give)
  local capacity = interval * burst
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  if give then
    local back = tat - interval
    if back > now then
      redis.call('SET', key, int(back), 'PX', ceil_ms(back - now))
    else
      redis.call('DEL', key)
    end
    return
  end
  local new = tat + interval
  if new - now <= capacity then
    if write then
      redis.call('SET', key, int(new), 'PX', ceil_ms(new - now))
    end
    return {1, burst, math.floor((capacity - (new - now)) / interval), ceil_s(new - now), 0}
  end
  return {0, burst, math.floor((capacity - (tat - now)) / interval), ceil_s(tat - now), ceil_ms(new - now - capacity)}
end

local function window(key, size, limit, write, give)
  local start = now - (now % size)
  local stored = redis.call('HMGET', key, 's', 'p', 'c')
  local s, prev, cur = tonumber(stored[1]), tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
  if give then
    if s == start and cur > 0 then
      redis.call('HINCRBY', key, 'c', -1)
    end
    return
  end
  if s == start - size then
    prev, cur = cur, 0
  elseif s ~= start then
    prev, cur = 0, 0
  end
  local left = size - (now - start)
  local estimate = math.floor(prev * left / size) + cur
  if estimate < limit then
    if write then
      redis.call('HSET', key, 's', int(start), 'p', int(prev), 'c', int(cur + 1))
      redis.call('PEXPIRE', key, ceil_ms(2 * size))
    end
    return {1, limit, limit - estimate - 1, ceil_s(left), 0}
  end
  return {0, limit, 0, ceil_s(left), ceil_ms(left)}
end

local function quota(key, start, finish, limit, write, give)
  local stored = redis.call('HMGET', key, 's', 'e', 'c')
  local s, e, count = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3]) or 0
  if give then
    if s and count > 0 then
      redis.call('HINCRBY', key, 'c', -1)
    end
    return
  end
  -- Never reset backwards: a gateway whose clock is behind stays in the stored period.
  if s and s >= start then
    start, finish = s, e
  else
    count = 0
  end
  local left = math.max(finish - tonumber(t[1]), 0)
  if count < limit then
    if write then
      redis.call('HSET', key, 's', int(start), 'e', int(finish), 'c', int(count + 1))
      redis.call('EXPIREAT', key, int(finish + 1))
    end
    return {1, limit, limit - count - 1, left, 0}
  end
  return {0, limit, 0, left, math.max(1, left) * 1000}
end

local algorithms = {gcra = gcra, window = window, quota = quota}

local function each(write, give)
  local results, all = {}, true
  for i, key in ipairs(KEYS) do
    local a = 2 + (i - 1) * 4
    local decide = algorithms[ARGV[a]]
    if ARGV[a] == 'quota' then
      results[i] = decide(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), write, give)
    else
      results[i] = decide(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), write, give)
    end
    if results[i] and results[i][1] == 0 then
      all = false
    end
  end
  return results, all
end

if op == 'give' then
  each(false, true)
  return {}
end
local results, all = each(false, false)
-- Count only if every limit admits the request: a refusal takes nothing from the others.
if op == 'take' and all then
  each(true, false)
end
local out = {}
for _, r in ipairs(results) do
  for _, v in ipairs(r) do
    out[#out + 1] = v
  end
end
return out
