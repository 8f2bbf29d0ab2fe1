-- @description moodscore: settings (the moodscore command and the bridge's address)
-- @about
--   Stores, in REAPER's ExtState section "moodscore", how the other moodscore scripts start the client
--   (the `moodscore` command; give the full path when REAPER does not see your shell's PATH, as on macOS)
--   and where the bridge listens (host:port). Environment variables MOODSCORE_CMD and MOODSCORE_BRIDGE win.

local TITLE = "moodscore: settings"
local SECTION = "moodscore"

local function current(key, default)
  local v = reaper.GetExtState(SECTION, key)
  if v == "" then return default end
  return v
end

local ok, csv = reaper.GetUserInputs(TITLE, 2, "moodscore command,Bridge host:port,extrawidth=300",
  current("command", "moodscore") .. "," .. current("bridge", "127.0.0.1:9000"))
if ok then
  local command, bridge = csv:match("^(.*),([^,]*)$")
  if command and bridge and bridge:match("^.+:%d+$") then
    reaper.SetExtState(SECTION, "command", command, true)
    reaper.SetExtState(SECTION, "bridge", bridge, true)
  else
    reaper.ShowMessageBox("Expected a command and host:port, e.g. 127.0.0.1:9000.", TITLE, 0)
  end
end
