-- wrk script of the assetflow benchmark suite.
-- wrk -s bench.lua URL -- <mode> <token> [file]
--   get   : request the URL's path as it is
--   ids   : GET <URL path><id>, an id picked at random from <file> (one per line) for each request
--   post  : POST <URL path> with the JSON body in <file>; every "{n}" in it becomes a counter
-- done() prints one line "BENCH_JSON {...}" with the figures the suite reads.

local mode, token, ids, body_template, counter, base_path
counter = 0

function init(args)
  mode = args[1]
  token = args[2]
  base_path = wrk.path
  wrk.headers["Authorization"] = "Bearer " .. token
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  if mode == "ids" then
    ids = {}
    for line in io.lines(args[3]) do
      if #line > 0 then ids[#ids + 1] = line end
    end
  elseif mode == "post" then
    local f = assert(io.open(args[3], "r"))
    body_template = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  if mode == "ids" then
    return wrk.format("GET", base_path .. ids[math.random(#ids)])
  elseif mode == "post" then
    counter = counter + 1
    local body = string.gsub(body_template, "{n}", tostring(counter) .. "-" .. tostring(math.random(1000000)))
    return wrk.format("POST", base_path, nil, body)
  end
  return wrk.format("GET", base_path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
