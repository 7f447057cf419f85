-- wrk script: POSTs pre-signed Shopify deliveries read from a file (one per line:
-- webhook_id TAB base64 signature TAB body), lines first..last-1 of it (arguments 4 and 5; each
-- benchmark round gets its own range). Each wrk thread takes its own slice of the lines, so
-- no webhook id is sent twice; past the end, lines repeat with a new webhook id (a redelivery of
-- the same order state, which must change no figure). At the end it prints how many distinct
-- deliveries were sent: the threads need not send alike, so one may repeat while another has not.
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter - 1)
  table.insert(threads, thread)
end

function init(args)
  path, shop, nthreads = args[1], args[2], tonumber(args[3])
  first, last = tonumber(args[4] or 0), tonumber(args[5] or 1e12)
  reqs, n, i, round = {}, 0, 0, 0
  local k = 0
  for line in io.lines(path) do
    if k >= first and k < last and k % nthreads == tid then
      local id, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      n = n + 1
      reqs[n] = { id, sig, body }
    end
    k = k + 1
  end
end

function request()
  i = i + 1
  if i > n then i = 1; round = round + 1 end
  local r = reqs[i]
  local id = r[1]
  if round > 0 then id = id .. "-r" .. round end
  return wrk.format("POST", "/webhooks/shopify", {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = shop,
    ["X-Shopify-API-Version"] = "2026-04",
    ["X-Shopify-Webhook-Id"] = id,
    ["X-Shopify-Hmac-Sha256"] = r[2],
  }, r[3])
end

function done(summary, latency, requests)
  local distinct = 0
  for _, t in ipairs(threads) do
    local n, i, round = t:get("n"), t:get("i"), t:get("round")
    distinct = distinct + (round > 0 and n or i)
  end
  io.write(string.format("distinct deliveries sent: %d\n", distinct))
end
