-- sweep deletes records of the bl hash (KEYS[1]) that the caller found
-- no longer needed, each only if it is still the value the caller read
-- (ARGV: field, value, field, value, …): a record rewritten meanwhile is
-- kept. Returns how many it deleted.
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
