-- POST /api/ai/chat with a JSON body; the bearer token comes from the environment.
wrk.method = "POST"
wrk.body = '{"message":"Summarise the quarterly report in three bullet points."}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "authgate-bench/1.0"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
