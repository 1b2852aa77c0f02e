-- wrk script: GET the paths listed in a file (one per line), in turn, over and over.
-- Arguments (after `--`): PATHS_FILE. Each wrk thread starts at its own offset.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      reqs[#reqs + 1] = wrk.format("GET", line)
    end
  end
  next_index = (id * 7919) % #reqs
end

function request()
  next_index = next_index % #reqs + 1
  return reqs[next_index]
end
