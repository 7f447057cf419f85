-- wrk script: POSTs pre-signed Shopify deliveries read from files (one per line: webhook_id TAB
-- base64 signature TAB body). Argument 1 is a round's file prefix: wrk thread t reads PREFIX.tT,
-- its own deliveries, so no webhook id is sent twice. Lines are read as they are sent, not at
-- start-up: wrk starts each thread as soon as that thread's init has run, so a slow init would
-- give the first thread a head start whose requests count but whose time does not. Past the end
-- of its file a thread starts again with new webhook ids (a redelivery of the same order state,
-- which must change no figure). At the end it prints how many distinct deliveries were sent: the
-- threads need not send alike, so one may repeat while another has not.
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter - 1)
  table.insert(threads, thread)
end

function init(args)
  shop = args[2]
  file = assert(io.open(args[1] .. ".t" .. tid, "r"))
  sent, round, lines = 0, 0, 0   -- lines: how many the file has, known once it was read through
end

function request()
  local line = file:read("l")
  if not line then
    lines = sent
    round = round + 1
    file:seek("set", 0)
    line = file:read("l")
  end
  sent = sent + 1
  local id, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  if round > 0 then id = id .. "-r" .. round end
  return wrk.format("POST", "/webhooks/shopify", {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = shop,
    ["X-Shopify-API-Version"] = "2026-04",
    ["X-Shopify-Webhook-Id"] = id,
    ["X-Shopify-Hmac-Sha256"] = sig,
  }, body)
end

function done(summary, latency, requests)
  local distinct = 0
  for _, t in ipairs(threads) do
    local sent, round, lines = t:get("sent"), t:get("round"), t:get("lines")
    distinct = distinct + (round > 0 and lines or sent)
  end
  io.write(string.format("distinct deliveries sent: %d\n", distinct))
end
