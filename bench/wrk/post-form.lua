-- wrk script: POST an application/x-www-form-urlencoded body with HTTP Basic client auth.
-- BENCH_BODY  the form body (already urlencoded)
-- BENCH_BASIC base64("client_id:client_secret"); omitted when unset or empty
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local basic = os.getenv("BENCH_BASIC")
if basic and basic ~= "" then
  wrk.headers["Authorization"] = "Basic " .. basic
end
