-- bl_put: last-writer-wins upsert of one blocklist record.
-- KEYS: 1 bl, 2 chg, 3 seq, 4 hosts, 5 ev:<addr>
-- ARGV: 1 field, 2 record JSON, 3 version ms, 4 host, 5 state (block|unban),
--       6 outbox seq (0 = none), 7 the writer's last acknowledged seq
-- Order: newer version; at equal versions unban over block; then the
-- greater host. A record never beats itself, so a replay changes nothing.
-- Returns {1, change id} when applied, {0, stored record} when not.
local field, rec, v, host, state, wseq = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
local function fmt(n) return string.format('%.0f', n) end
-- the writer's acknowledgement: refuse to write when the server no longer
-- holds the last one the writer saw (it lost writes: the writer rewinds)
local prev = tonumber(ARGV[7]) or 0
local acked = tonumber(redis.call('HGET', KEYS[4], 'ack:' .. host) or '0') or 0
if acked < prev then
  return redis.error_reply('LOST this server no longer holds write ' .. fmt(prev) .. ' of ' .. host)
end
if wseq > acked then redis.call('HSET', KEYS[4], 'ack:' .. host, fmt(wseq)) end
local raw = redis.call('HGET', KEYS[1], field)
if raw then
  local cur = cjson.decode(raw)
  local wins
  if v ~= cur.v then wins = v > cur.v
  elseif state ~= cur.s then wins = state == 'unban'
  else wins = host > cur.h end
  if not wins then return {0, raw} end
end
-- a block consumes the bans logged up to it, an unban forgives them
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', fmt(v))
redis.call('HSET', KEYS[1], field, rec)
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'a', field, 'r', rec)
redis.call('INCR', KEYS[3])
return {1, id}
