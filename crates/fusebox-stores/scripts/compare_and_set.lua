-- Stores a breaker's new state if nobody changed it since it was read.
--
-- KEYS[1]  the breaker's hash, e.g. circuit_breaker:pypi
-- ARGV[1]  the version read ('' when the hash did not exist)
-- ARGV[2]  the new machine text
-- ARGV[3]  the new state's name, kept in its own field for people reading
-- ARGV[4]  time to live in milliseconds: idle breakers expire, except in a
--          state set by hand (forced_open, disabled), which stays until
--          someone changes it
-- returns  1 when stored; when the version moved on, what the read script
--          returns ({ machine or false, version or false, seconds,
--          microseconds }), so the writer tries again without another
--          round trip to read: under contention every round trip a writer
--          spends between its read and its write is a chance to lose again
local kind = redis.call('TYPE', KEYS[1])['ok']
local version = false
if kind == 'hash' then
  version = redis.call('HGET', KEYS[1], 'version')
elseif kind ~= 'none' then
  version = 'foreign:' .. kind
end
if (version or '') ~= ARGV[1] then
  local now = redis.call('TIME')
  if kind == 'none' then
    return { false, false, now[1], now[2] }
  elseif kind ~= 'hash' then
    return { '(a redis ' .. kind .. ', not a hash)', version, now[1], now[2] }
  end
  return { redis.call('HGET', KEYS[1], 'machine'), version, now[1], now[2] }
end
if kind ~= 'hash' then
  -- Another tool's value (or nothing) under the key: start a fresh hash.
  redis.call('DEL', KEYS[1])
end
-- A version that is not a whole number was not written by fusebox: start
-- counting again rather than fail every write.
local number = tonumber(version or '0')
if number == nil or number ~= math.floor(number) or number < 0 or number >= 2^52 then
  number = 0
end
redis.call('HSET', KEYS[1], 'machine', ARGV[2], 'state', ARGV[3],
  'version', string.format('%.0f', number + 1))
if ARGV[3] == 'forced_open' or ARGV[3] == 'disabled' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
