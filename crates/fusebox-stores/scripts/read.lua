-- Reads one breaker's state and the server's clock in one round trip.
--
-- KEYS[1]  the breaker's hash, e.g. circuit_breaker:pypi
-- returns  { machine or false, version or false, seconds, microseconds }
--
-- The server's TIME is the one clock of the fleet: deadlines kept in Redis
-- are in server time, so host clock skew does not matter.
local fields = redis.call('HMGET', KEYS[1], 'machine', 'version')
local now = redis.call('TIME')
return { fields[1], fields[2], now[1], now[2] }
