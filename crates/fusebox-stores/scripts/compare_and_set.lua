-- Stores a breaker's new state if nobody changed it since it was read.
--
-- KEYS[1]  the breaker's hash, e.g. circuit_breaker:pypi
-- ARGV[1]  the version read ('' when the hash did not exist)
-- ARGV[2]  the new machine text
-- ARGV[3]  the new state's name, kept in its own field for people reading
-- ARGV[4]  time to live in milliseconds: idle breakers expire
-- returns  1 when stored, 0 when the version moved on (read again and retry)
local version = redis.call('HGET', KEYS[1], 'version')
if (version or '') ~= ARGV[1] then
  return 0
end
local next_version = tonumber(version or '0') + 1
redis.call('HSET', KEYS[1], 'machine', ARGV[2], 'state', ARGV[3], 'version', next_version)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
