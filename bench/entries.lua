-- wrk script for every path of the benchmark, rotating over the seeded patients.
--   wrk ... -s entries.lua URL -- <post|get|exam|rx> <ids file> <token> <facility> <performed_at> [bodies]
-- Requests are formatted once per patient in init(), so request() costs wrk almost nothing.
-- rx: each request sends the next line of the bodies file (signed orders, each used once; the
-- bench writes a fresh file for every wrk run; with more than one wrk thread, each would send them all).
-- done() prints one line "WRK_JSON {...}" that bench/run.py parses (latencies in microseconds).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local n, i = 0, 0

function init(args)
  local mode, ids_file, token, facility, performed_at = args[1], args[2], args[3], args[4], args[5]
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["X-Facility"] = facility,
  }
  local body = '{"kind":"indicator","code":"pulse","value":72,"performed_at":"' .. performed_at .. '"}'
  if mode == "exam" then  -- a diagnosis and three vital signs
    local at = '"performed_at":"' .. performed_at .. '"'
    body = '{"entries":[{"kind":"diagnosis","code":"J06.9","rank":"primary","verification":"provisional",' .. at ..
      '},{"kind":"indicator","code":"pulse","value":72,' .. at ..
      '},{"kind":"indicator","code":"blood_pressure","systolic":120,"diastolic":80,' .. at ..
      '},{"kind":"indicator","code":"temperature","value":36.6,' .. at .. '}]}'
  end
  if mode == "rx" then
    for line in io.lines(args[6]) do
      requests[#requests + 1] = wrk.format("POST", "/api/v1/erecipe/prescriptions/", headers, line)
    end
    n = #requests
    i = 0
    return
  end
  for pid in io.lines(ids_file) do
    local path = "/api/v1/medcard/patients/" .. pid .. "/entries"
    if mode == "post" then
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    elseif mode == "exam" then
      requests[#requests + 1] = wrk.format("POST", (path:gsub("/entries$", "/examinations")), headers, body)
    else
      requests[#requests + 1] = wrk.format("GET", path .. "?limit=30", headers)
    end
  end
  n = #requests
  i = (id * 7919) % n  -- threads start at different patients
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
