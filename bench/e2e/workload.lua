-- wrk script of the e2e benchmark (bench/e2e). Configured through the
-- environment by RunWrk:
--   E2E_PORTS    ports on 127.0.0.1, comma separated: thread i (1-based)
--                connects to port ((i-1) mod #ports)+1, so with one thread
--                per pod every pod gets the same number of connections
--   E2E_METHOD   GET or POST
--   E2E_PATH     request path; "{id}" is replaced by each id of E2E_IDS
--   E2E_IDS      file with one id per line (only when E2E_PATH has {id})
--   E2E_BODY     request body ("" for none)
--   E2E_HEADERS  "Name: value" lines
-- done() prints one line "E2E_RESULT {json}" that ParseWrk reads.

local ports = {}
for p in string.gmatch(os.getenv("E2E_PORTS") or "", "%d+") do
  ports[#ports + 1] = p
end
local threads = 0

function setup(thread)
  threads = threads + 1
  local port = ports[((threads - 1) % #ports) + 1]
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
  thread:set("e2e_thread", threads)
end

local reqs = {}
local n, i = 0, 0

function init(args)
  local method = os.getenv("E2E_METHOD") or "GET"
  local path = os.getenv("E2E_PATH") or "/"
  local body = os.getenv("E2E_BODY")
  if body == "" then body = nil end
  local headers = {}
  for line in string.gmatch(os.getenv("E2E_HEADERS") or "", "[^\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k] = v end
  end
  local ids = os.getenv("E2E_IDS") or ""
  if ids ~= "" and path:find("{id}", 1, true) then
    for id in io.lines(ids) do
      if id ~= "" then
        local h = {}
        for k, v in pairs(headers) do h[k] = v end
        reqs[#reqs + 1] = wrk.format(method, (path:gsub("{id}", id)), h, body)
      end
    end
  else
    reqs[1] = wrk.format(method, path, headers, body)
  end
  n = #reqs
  -- threads start at different ids
  i = (((e2e_thread or 1) - 1) * 389) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'E2E_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
