-- wrk script for bench/proxy_switch: counts responses with status >= 300 in every thread and
-- prints the total as "bench: status>=300 N" when wrk ends (also on SIGINT).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status >= 300 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + t:get("bad")
  end
  io.write(string.format("bench: status>=300 %d\n", n))
end
