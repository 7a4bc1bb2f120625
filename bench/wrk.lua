-- wrk script for bench/run.sh.
--   WRK_METHOD  request method (GET by default; HEAD for the HEAD rows)
--   WRK_PATHS   optional file of request paths, one a line: each thread cycles through them
--               (the _catalog walk); without it, every request goes to the URL given to wrk,
--               and wrk sends one precomputed request (no Lua per request).
-- Headers (Accept, Authorization) come from wrk -H. done() prints one JSON line.
wrk.method = os.getenv("WRK_METHOD") or "GET"

local list = os.getenv("WRK_PATHS")
if list and list ~= "" then
  local paths = {}
  for line in io.lines(list) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  local i = 0
  request = function()
    i = i % #paths + 1
    return wrk.format(nil, paths[i])
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  -- errors.status: wrk counts responses with a status >= 400 (the preflight has checked
  -- that each request answers 200, so anything here is a failure under load)
  io.write(string.format(
    '{"rps":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"requests":%d,"bytes":%d,' ..
    '"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout))
end
