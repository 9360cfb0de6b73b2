-- Reads one breaker's state and the server's clock in one round trip, and
-- keeps a breaker that is in use from expiring.
--
-- KEYS[1]  the breaker's hash, e.g. circuit_breaker:pypi
-- ARGV[1]  time to live in milliseconds
-- returns  { machine or false, version or false, seconds, microseconds }
--
-- The server's TIME is the one clock of the fleet: deadlines kept in Redis
-- are in server time, so host clock skew does not matter.
--
-- A key holding something other than a hash (another tool's string, say)
-- is reported as a foreign machine with the version 'foreign:<type>', which
-- the compare-and-set script accepts to replace it.
local now = redis.call('TIME')
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  return { false, false, now[1], now[2] }
end
if kind ~= 'hash' then
  return { '(a redis ' .. kind .. ', not a hash)', 'foreign:' .. kind, now[1], now[2] }
end
local fields = redis.call('HMGET', KEYS[1], 'machine', 'version')
-- A read that sees a live breaker keeps it alive: refresh the time to live
-- once half of it has passed, so most reads write nothing. A manual state
-- never expires (the compare-and-set script made it persistent).
local left = redis.call('PTTL', KEYS[1])
local ttl = tonumber(ARGV[1])
if left >= 0 and left < ttl / 2 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return { fields[1], fields[2], now[1], now[2] }
