-- wrk script: POST one pre-generated body per request, never reusing one.
-- Arguments (after `--`): PATH BODIES_FILE THREADS OFFSET; BODIES_FILE has one JSON body per
-- line, THREADS is wrk's -t, and the first OFFSET bodies (used by earlier runs) are skipped.
-- Thread k of THREADS takes the remaining lines k, k+THREADS, k+2*THREADS, ...
-- A thread that runs out goes on with its first body again, which the server refuses (409, the
-- session ID is in use): xtask counts non-2xx answers and fails the run, and `done` reports how
-- many bodies were asked for.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, file, nthreads, offset = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  local headers = { ["Content-Type"] = "application/json" }
  reqs = {}
  local i = 0
  for line in io.lines(file) do
    if line ~= "" then
      if i >= offset and (i - offset) % nthreads == id then
        reqs[#reqs + 1] = wrk.format("POST", path, headers, line)
      end
      i = i + 1
    end
  end
  available = #reqs
  used = 0
end

function request()
  used = used + 1
  if used > available then
    return reqs[((used - 1) % available) + 1]
  end
  return reqs[used]
end

function done(summary, latency, requests)
  local asked, available_total = 0, 0
  for _, t in ipairs(threads) do
    asked = asked + t:get("used")
    available_total = available_total + t:get("available")
  end
  io.write(string.format("xtask: bodies asked %d of %d\n", asked, available_total))
end
