-- Reads breakers' states and changes nothing: no time to live is renewed,
-- so a tool that only watches the store (`fusebox status --watch`, the
-- dashboard) does not keep idle breakers alive.
--
-- KEYS     the breakers' hashes, e.g. circuit_breaker:pypi
-- returns  one entry per key: its machine text; false when the key is gone
--          or holds no machine; '(a redis <type>, not a hash)' for a key of
--          another type (read as a foreign machine, as read.lua does)
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'hash' then
    out[i] = redis.call('HGET', key, 'machine')
  elseif kind == 'none' then
    out[i] = false
  else
    out[i] = '(a redis ' .. kind .. ', not a hash)'
  end
end
return out
