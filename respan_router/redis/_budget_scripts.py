"""The Lua scripts of the Redis budget store: each one atomic step of the ledger.

Keys of one customer share its Cluster hash tag (``<prefix>budget:{customer}:...``), so
every script runs on one node. A reservation's record names the exact keys it holds money
on (``pkey`` the period's hash, ``tkey`` the total's, ``okey`` the index of open
reservations) and the amount, so settling it later charges those keys whatever the period
is by then.

Ledger hashes have the fields ``spent`` and ``reserved`` (integer micro-dollars). The
index of open reservations is a sorted set of record keys scored by their expiry.
"""

from __future__ import annotations

__all__ = ["CONFIGURE", "RESERVE", "SETTLE", "USAGE"]

# Expire this customer's reservations whose expiry is <= now: their holds leave
# `reserved`; their records say 'expired' (a settle then charges late).
_EXPIRE = """
local function expire(okey, now)
  local due = redis.call('ZRANGEBYSCORE', okey, '-inf', now)
  for _, rk in ipairs(due) do
    local r = redis.call('HMGET', rk, 'state', 'pkey', 'tkey', 'amount')
    if r[1] == 'open' then
      local a = tonumber(r[4])
      if a ~= 0 then  -- Lua's -0 is '-0', which HINCRBY rejects
        if r[2] ~= '' then redis.call('HINCRBY', r[2], 'reserved', -a) end
        redis.call('HINCRBY', r[3], 'reserved', -a)
      end
      redis.call('HSET', rk, 'state', 'expired')
    end
    redis.call('ZREM', okey, rk)
  end
end
local function used(key)
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  return (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
end
"""

# The rate limit (a moving window of `window` seconds, as the `limits` package's Redis
# storage keeps it: a list of the allowed hits' times, newest first; here the hits that
# left the window are dropped first, so the list holds only the window's hits),
# then the reservation against the period and the total, all or nothing.
# KEYS: 1 total, 2 open index, 3 record, 4 rate list, [5 period]
# ARGV: 1 now, 2 amount, 3 period limit|'', 4 total limit|'', 5 expires_at,
#       6 period expires_at|'', 7 record ttl ms, 8 per-minute limit|'', 9 window s,
#       10 do reserve (1|0)
# -> {2, 0, retry_after_ms}        rate limited: nothing counted, nothing held
#    {0, limit, value, used, period_used, total_used, remaining}   refused
#    {1, period_used, total_used, remaining}                       held
#    remaining is -1 without a rate limit
RESERVE = (
    _EXPIRE
    + """
local now = tonumber(ARGV[1])
local remaining = -1
if ARGV[8] ~= '' then
  local limit = tonumber(ARGV[8])
  local window = tonumber(ARGV[9])
  -- hits that left the window go first (the oldest are at the tail)
  while true do
    local last = redis.call('LINDEX', KEYS[4], -1)
    if not last or tonumber(last) > now - window then break end
    redis.call('RPOP', KEYS[4])
  end
  local n = redis.call('LLEN', KEYS[4])
  if n >= limit then
    local oldest = redis.call('LINDEX', KEYS[4], limit - 1)
    return {2, 0, math.ceil((tonumber(oldest) + window - now) * 1000)}
  end
  redis.call('LPUSH', KEYS[4], ARGV[1])
  redis.call('EXPIRE', KEYS[4], math.ceil(window))
  remaining = limit - n - 1
end
if ARGV[10] ~= '1' then return {1, 0, 0, remaining} end
-- forgotten before it arrived (its call was cancelled): hold nothing
if redis.call('EXISTS', KEYS[3]) == 1 then return {1, 0, 0, remaining} end
expire(KEYS[2], now)
local amount = tonumber(ARGV[2])
local pkey = KEYS[5] or ''
local pused = 0
if pkey ~= '' then pused = used(pkey) end
local tused = used(KEYS[1])
if ARGV[3] ~= '' and pused + amount > tonumber(ARGV[3]) then
  return {0, 'period_budget', tonumber(ARGV[3]), pused, pused, tused, remaining}
end
if ARGV[4] ~= '' and tused + amount > tonumber(ARGV[4]) then
  return {0, 'total_budget', tonumber(ARGV[4]), tused, pused, tused, remaining}
end
if pkey ~= '' then
  redis.call('HINCRBY', pkey, 'reserved', amount)
  if ARGV[6] ~= '' then redis.call('EXPIREAT', pkey, math.ceil(tonumber(ARGV[6]))) end
end
redis.call('HINCRBY', KEYS[1], 'reserved', amount)
redis.call('HSET', KEYS[3], 'state', 'open', 'pkey', pkey, 'tkey', KEYS[1],
  'okey', KEYS[2], 'amount', amount, 'expires_at', ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], KEYS[3])
return {1, pused, tused, remaining}
"""
)

# Close a reservation: settle (charge `actual`) or release. Idempotent by its record.
# 'forget' releases a reservation whose reply was lost (a cancelled call); when its
# reserve has not run yet, it leaves a released record (kept a day), so it holds nothing.
# KEYS: 1 record.  ARGV: 1 actual, 2 now, 3 'settle'|'release'|'forget'
SETTLE = """
local r = redis.call('HMGET', KEYS[1], 'state', 'pkey', 'tkey', 'okey', 'amount', 'expires_at')
if not r[1] then
  if ARGV[3] ~= 'forget' then return 'unknown' end
  redis.call('HSET', KEYS[1], 'state', 'released')
  redis.call('PEXPIRE', KEYS[1], 86400000)
  return 'released'
end
if ARGV[3] == 'forget' then ARGV[3] = 'release' end
local state, pkey, tkey, okey = r[1], r[2], r[3], r[4]
local a = tonumber(r[5])
local function unhold()
  if a ~= 0 then  -- Lua's -0 is '-0', which HINCRBY rejects (a customer without a budget)
    if pkey ~= '' then redis.call('HINCRBY', pkey, 'reserved', -a) end
    redis.call('HINCRBY', tkey, 'reserved', -a)
  end
  redis.call('ZREM', okey, KEYS[1])
end
if state == 'open' and tonumber(r[6]) <= tonumber(ARGV[2]) then
  unhold()
  state = 'expired'
  redis.call('HSET', KEYS[1], 'state', state)
end
if ARGV[3] == 'release' then
  if state ~= 'open' then return 'duplicate' end
  unhold()
  redis.call('HSET', KEYS[1], 'state', 'released')
  return 'released'
end
local actual = tonumber(ARGV[1])
local function charge()
  if pkey ~= '' then redis.call('HINCRBY', pkey, 'spent', actual) end
  redis.call('HINCRBY', tkey, 'spent', actual)
end
if state == 'open' then
  unhold()
  charge()
  redis.call('HSET', KEYS[1], 'state', 'settled')
  return 'settled'
end
if state == 'expired' then
  charge()
  redis.call('HSET', KEYS[1], 'state', 'late')
  return 'late'
end
return 'duplicate'
"""

# KEYS: 1 total, 2 open index, [3 period].  ARGV: 1 now
# -> {period_spent, period_reserved, total_spent, total_reserved, open}
USAGE = (
    _EXPIRE
    + """
expire(KEYS[2], tonumber(ARGV[1]))
local p = {false, false}
if KEYS[3] then p = redis.call('HMGET', KEYS[3], 'spent', 'reserved') end
local t = redis.call('HMGET', KEYS[1], 'spent', 'reserved')
return {tonumber(p[1]) or 0, tonumber(p[2]) or 0, tonumber(t[1]) or 0, tonumber(t[2]) or 0,
  redis.call('ZCARD', KEYS[2])}
"""
)

# Store a configuration, keeping the first anchor.  KEYS: 1 config, 2 anchor
# ARGV: 1 configuration JSON, 2 anchor -> the anchor kept
CONFIGURE = """
redis.call('SET', KEYS[2], ARGV[2], 'NX')
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[2])
"""
