-- Shared by ban_event and bl_put (prepended to each, see redis.go).

local function fmt(n) return string.format('%.0f', n) end

-- acknowledge records the writer's outbox seq wseq for host, after refusing
-- the write when the server no longer holds prev, the last seq the writer
-- saw acknowledged: the server lost writes and the writer must rewind.
-- Returns an error reply to return, or nil.
local function acknowledge(hosts, host, wseq, prev)
  local acked = tonumber(redis.call('HGET', hosts, 'ack:' .. host) or '0') or 0
  if acked < (prev or 0) then
    return redis.error_reply('LOST this server no longer holds write ' .. fmt(prev) .. ' of ' .. host)
  end
  if wseq > acked then redis.call('HSET', hosts, 'ack:' .. host, fmt(wseq)) end
  return nil
end

-- wins is last-writer-wins: a record (v, s, h) replaces the stored cur when
-- its version is newer; at equal versions an unban beats a block; then the
-- greater host. A record never beats itself, so a replay changes nothing.
local function wins(v, s, h, cur)
  if not cur then return true end
  if v ~= cur.v then return v > cur.v end
  if s ~= cur.s then return s == 'unban' end
  return h > cur.h
end

-- put stores rec as the record of field and appends its change entry,
-- together; returns the entry's id.
local function put(bl, chg, seq, field, rec)
  redis.call('HSET', bl, field, rec)
  local id = redis.call('XADD', chg, 'MAXLEN', '~', '1000000', '*', 'a', field, 'r', rec)
  redis.call('INCR', seq)
  return id
end
