-- probe runs every command a fleet member sends from its scripts, in a
-- harmless form on scratch keys (KEYS: a hash, a zset, a stream, a
-- string, all under rcv:{F}:check:), and returns the names of those the
-- ACL refuses. The scratch keys expire ARGV[1] ms later.
local missing = {}
local function try(name, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err and (string.find(r.err, 'NOPERM', 1, true) or string.find(r.err, "can't run this command", 1, true)) then
    table.insert(missing, name)
  end
end
local h, z, x, s = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
try('time', 'TIME')
try('hsetnx', 'HSETNX', h, 'f', '1')
try('hset', 'HSET', h, 'g', '1')
try('hget', 'HGET', h, 'f')
try('hmget', 'HMGET', h, 'f', 'g')
try('hgetall', 'HGETALL', h)
try('hscan', 'HSCAN', h, '0')
try('hdel', 'HDEL', h, 'g')
try('zadd', 'ZADD', z, '1', 'm')
try('zrange', 'ZRANGE', z, '0', '-1')
try('zrangebyscore', 'ZRANGEBYSCORE', z, '-inf', '+inf')
try('zremrangebyscore', 'ZREMRANGEBYSCORE', z, '2', '3')
try('zremrangebyrank', 'ZREMRANGEBYRANK', z, '5', '6')
try('incr', 'INCR', s)
try('get', 'GET', s)
try('xadd', 'XADD', x, 'MAXLEN', '~', '10', '*', 'a', 'b')
try('xrange', 'XRANGE', x, '-', '+', 'COUNT', '1')
try('xrevrange', 'XREVRANGE', x, '+', '-', 'COUNT', '1')
try('xread', 'XREAD', 'COUNT', '1', 'STREAMS', x, '0-0')
try('xinfo|stream', 'XINFO', 'STREAM', x)
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  try('pexpireat', 'PEXPIREAT', k, string.format('%.0f', at))
end
-- one name once
local seen, out = {}, {}
for _, n in ipairs(missing) do
  if not seen[n] then seen[n] = true; table.insert(out, n) end
end
return out
