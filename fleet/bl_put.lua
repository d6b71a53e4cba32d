-- bl_put: last-writer-wins upsert of one blocklist record.
-- KEYS: 1 bl, 2 chg, 3 seq, 4 hosts, 5 ev:<addr>
-- ARGV: 1 field, 2 record JSON, 3 version ms, 4 host, 5 state (block|unban),
--       6 outbox seq (0 = none), 7 the writer's last acknowledged seq
-- Applied only when it wins (see wins in common.lua).
-- Returns {1, change id} when applied, {0, stored record} when not.
local field, rec, v, host, state, wseq = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
local lost = acknowledge(KEYS[4], host, wseq, tonumber(ARGV[7]))
if lost then return lost end
local raw = redis.call('HGET', KEYS[1], field)
if raw and not wins(v, state, host, cjson.decode(raw)) then return {0, raw} end
-- a block consumes the bans logged up to it, an unban forgives them
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', fmt(v))
return {1, put(KEYS[1], KEYS[2], KEYS[3], field, rec)}
