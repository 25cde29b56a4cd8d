-- wrk script: POST /introspect of many distinct tokens, each once per pass over the pool.
-- BENCH_TOKENS       a file with one token per line (the pool)
-- BENCH_BASIC        base64("client_id:client_secret") of the introspection client
-- BENCH_WRK_THREADS  wrk's -t: thread k takes tokens k, k+T, k+2T, ... of the pool, so the
--                    threads together introspect every token once per pass
local counter = 0
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

local requests = {}
local next_index = 0

function init(args)
  local threads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  local path = os.getenv("BENCH_TOKENS") or error("BENCH_TOKENS is not set")
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  local basic = os.getenv("BENCH_BASIC")
  if basic and basic ~= "" then headers["Authorization"] = "Basic " .. basic end
  local i = 0
  for token in io.lines(path) do
    if token ~= "" then
      if i % threads == thread_id then
        requests[#requests + 1] = wrk.format("POST", nil, headers,
          "token=" .. token .. "&token_type_hint=access_token")
      end
      i = i + 1
    end
  end
  if #requests == 0 then error("no tokens for thread " .. thread_id .. " in " .. path) end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
