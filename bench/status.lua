-- wrk script: counts the answers that were not 200, so a run that measured redirects to the
-- sign-in page or 401s cannot pass for a result. bench/throughput.py reads the last line.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, other, other_status = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    other = other + 1
    other_status = status
  end
end

function done(summary, latency, requests)
  local total_ok, total_other, example = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
    if thread:get("other_status") ~= 0 then
      example = thread:get("other_status")
    end
  end
  io.write(string.format("statuses: 200=%d other=%d example=%d\n", total_ok, total_other, example))
end
