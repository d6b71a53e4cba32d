-- ban_event: count one countable ban fleet-wide and decide, atomically.
-- KEYS: 1 cfg, 2 ev:<addr>, 3 bl, 4 chg, 5 seq, 6 hosts
-- ARGV: 1 field (the address), 2 member host:seq|jail, 3 ban time ms,
--       4 host, 5 outbox seq (0 = none), 6 the writer's last acknowledged seq
-- Returns {outcome} or {outcome, record, change id}.
local cfg = redis.call('HMGET', KEYS[1], 'threshold', 'window_ms', 'bantime_ms')
local threshold, window, bantime = tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3]) or 0
if not threshold or not window then
  return redis.error_reply('NOCFG fleet rule not set: run recidivist fleet init')
end
local field, member, ts, host, wseq = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local lost = acknowledge(KEYS[6], host, wseq, tonumber(ARGV[6]))
if lost then return lost end

-- a ban logged at or before the address's current record never counts:
-- an unban forgave it, a block consumed it
local cur = redis.call('HGET', KEYS[3], field)
if cur then
  cur = cjson.decode(cur)
  if ts <= cur.v then
    if cur.s == 'unban' then return {'forgiven'} end
    return {'old'}
  end
end

local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local top = ts
if newest[2] then top = math.max(top, tonumber(newest[2])) end
if ts < top - window then return {'old'} end
if redis.call('ZADD', KEYS[2], 'NX', fmt(ts), member) == 0 then return {'dup'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. fmt(top - window))
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000
redis.call('PEXPIREAT', KEYS[2], fmt(math.max(top, nowms) + window + 1000))

-- the sliding-window rule: threshold bans with newest - oldest <= window.
-- Before this ban there was no such group, so a new one holds it; take the
-- group that completes first (the smallest newest time) for the version.
local evs = redis.call('ZRANGEBYSCORE', KEYS[2], fmt(ts - window), fmt(ts + window), 'WITHSCORES')
local n = #evs / 2
local version
for i = 1, n - threshold + 1 do
  local lo, hi = tonumber(evs[2 * i]), tonumber(evs[2 * (i + threshold - 1)])
  if lo <= ts and ts <= hi and hi - lo <= window then
    version = hi
    break
  end
end
if not version then return {'counted'} end

-- offender: its bans are consumed; the block record and its change entry
-- are written together
local all = redis.call('ZRANGE', KEYS[2], 0, -1)
local seen, jails = {}, {}
for _, m in ipairs(all) do
  local j = string.match(m, '|(.*)$') or ''
  if j ~= '' and not seen[j] then seen[j] = true; table.insert(jails, j) end
end
table.sort(jails)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1) -- not DEL: the ACL refuses it
local x = 0
if bantime > 0 then x = version + bantime end
local rec = '{"s":"block","v":' .. fmt(version) .. ',"h":' .. cjson.encode(host) ..
  ',"x":' .. fmt(x) .. ',"j":' .. cjson.encode(table.concat(jails, ',')) ..
  ',"n":' .. fmt(#all) .. ',"o":"fleet"}'
if not wins(version, 'block', host, cur) then return {'blocked', cjson.encode(cur)} end
return {'offender', rec, put(KEYS[3], KEYS[4], KEYS[5], field, rec)}
