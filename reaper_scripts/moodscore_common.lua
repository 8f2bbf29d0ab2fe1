-- moodscore_common.lua: shared by the moodscore ReaScripts (loaded with dofile; not an action itself).
--
-- REAPER's Lua has no sockets, so the scripts reach the moodscore OSC bridge by running the
-- `moodscore osc ...` client through io.popen and reading the tab-separated lines it prints
-- (see bridge/client.py): "ok", "piece", "note", "segment", "section", "marker", "stem", "end", or
-- "error<TAB>reason". M.run waits for the client (fine for a few seconds of composing); M.start runs it in the
-- background writing into a file that a script polls from reaper.defer (scoring a video takes a while).
--
-- Settings (environment variable, else REAPER ExtState section "moodscore", else the default):
--   MOODSCORE_CMD     / command : how to start the CLI, e.g. "moodscore" (default) or
--                                  "C:\Users\me\venv\Scripts\moodscore.exe" or "/Users/me/venv/bin/moodscore"
--                                  (quote it yourself if it holds spaces, or give python: "python3 -m moodscore.models.cli")
--   MOODSCORE_BRIDGE  / bridge  : host:port of the running bridge (default 127.0.0.1:9000)

local M = {}

M.SECTION = "moodscore"

function M.is_windows()
  return (reaper.GetOS() or ""):match("^Win") ~= nil
end

local function setting(env, key, default)
  local v = os.getenv(env)
  if v and v ~= "" then return v end
  if reaper.HasExtState(M.SECTION, key) then
    v = reaper.GetExtState(M.SECTION, key)
    if v ~= "" then return v end
  end
  return default
end

-- Quote one argument for the shell that io.popen uses: cmd.exe on Windows, /bin/sh elsewhere.
function M.quote(arg)
  arg = tostring(arg)
  if M.is_windows() then
    -- cmd.exe: double quotes; a double quote cannot occur in a Windows path, so drop any
    return '"' .. arg:gsub('"', '') .. '"'
  end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

-- `moodscore osc --host H --port P <args...>` as one command line, each argument quoted for the shell.
function M.command_line(args)
  local bridge = setting("MOODSCORE_BRIDGE", "bridge", "127.0.0.1:9000")
  local host, port = bridge:match("^(.*):(%d+)$")
  local parts = { setting("MOODSCORE_CMD", "command", "moodscore"), "osc",
                  "--host", M.quote(host or "127.0.0.1"), "--port", M.quote(port or "9000") }
  for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
  return table.concat(parts, " ")
end

-- The full command line for io.popen, stderr folded into stdout.
function M.command(args)
  local line = M.command_line(args) .. " 2>&1"
  if M.is_windows() then
    -- cmd /c strips the first and last quote of the line when it starts with one: wrap it once more
    line = '"' .. line .. '"'
  end
  return line
end

local function split_tabs(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

-- Parse the client's output. Returns a result table, or nil and a readable reason.
function M.parse(text)
  local r = { pieces = {}, segments = {}, sections = {}, markers = {}, stems = {}, complete = false }
  local piece = nil
  for raw in (text or ""):gmatch("[^\n]+") do
    local f = split_tabs((raw:gsub("\r$", "")))
    local kind = f[1]
    if kind == "error" then
      return nil, table.concat(f, " ", 2)
    elseif kind == "ok" then
      r.kind = f[2]
    elseif kind == "piece" then
      piece = { index = tonumber(f[2]), tempo = tonumber(f[3]), key = f[4], bars = tonumber(f[5]),
                quadrants = f[6], n_notes = tonumber(f[7]), name = f[8], midi = f[9], notes = {} }
      r.pieces[#r.pieces + 1] = piece
    elseif kind == "note" and piece then
      piece.notes[#piece.notes + 1] = { pitch = tonumber(f[2]), start = tonumber(f[3]),
                                        length = tonumber(f[4]), velocity = tonumber(f[5]) }
    elseif kind == "segment" then
      r.segments[#r.segments + 1] = { start_s = tonumber(f[2]), end_s = tonumber(f[3]),
                                      quadrant = f[4], label = f[5] }
    elseif kind == "section" then
      r.sections[#r.sections + 1] = { start_s = tonumber(f[3]), end_s = tonumber(f[4]), first_bar = tonumber(f[5]),
                                      last_bar = tonumber(f[6]), quadrant = f[7], key = f[8], name = f[9],
                                      color = tonumber(f[10]) }
    elseif kind == "marker" then
      r.markers[#r.markers + 1] = { time_s = tonumber(f[3]), kind = f[4], name = f[5], offset_ms = tonumber(f[6]) }
    elseif kind == "stem" then
      r.stems[#r.stems + 1] = { part = f[3], wav = f[4], midi = f[5] }
    elseif kind == "end" then
      r.complete = true
    end
  end
  if not r.kind or not r.complete then
    local shown = (text or ""):sub(1, 400)
    return nil, "no answer from the moodscore client. Is `moodscore` installed and is the bridge running "
      .. "(moodscore bridge)? Set the command in the MOODSCORE_CMD environment variable or run "
      .. "'moodscore: settings'. Output was:\n" .. shown
  end
  for _, p in ipairs(r.pieces) do
    if #p.notes ~= p.n_notes then
      return nil, string.format("piece %d: expected %d notes, got %d", p.index, p.n_notes, #p.notes)
    end
  end
  return r
end

-- Run the client with a list of arguments and parse what it prints.
function M.run(args)
  local line = M.command(args)
  local pipe, err = io.popen(line, "r")
  if not pipe then return nil, "could not start the moodscore client: " .. tostring(err) end
  local text = pipe:read("a")
  pipe:close()
  return M.parse(text)
end

-- Background runs ---------------------------------------------------------------------------------------

function M.temp_dir()
  if M.is_windows() then
    return os.getenv("TEMP") or os.getenv("TMP") or "C:\\Windows\\Temp", "\\"
  end
  return os.getenv("TMPDIR") or "/tmp", "/"
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Start `moodscore osc <args>` in the background: its output (stdout and stderr) goes to a file, followed by a
-- line "exited" when it has ended. `name` makes the files' names. Returns a job table
-- { out = file, launcher = script } or nil and a reason. Nothing waits: REAPER stays responsive.
function M.start(args, name)
  local dir, sep = M.temp_dir()
  local base = dir:gsub("[/\\]+$", "") .. sep .. "moodscore-" .. name:gsub("[^%w%-_.]", "_")
  local job = { out = base .. ".txt" }
  local script, launch
  if M.is_windows() then
    -- a batch file expands %...%: double every percent sign of the command line; it is read as UTF-8 (as
    -- REAPER's Lua strings are) after chcp 65001
    job.launcher = base .. ".cmd"
    local run_line = (M.command_line(args) .. " > " .. M.quote(job.out) .. " 2>&1"):gsub("%%", "%%%%")
    local out_name = M.quote(job.out):gsub("%%", "%%%%")
    script = "@echo off\r\nchcp 65001 > nul\r\n" .. run_line .. "\r\necho exited>> " .. out_name .. "\r\n"
    launch = 'start "" /b cmd /c ' .. M.quote(job.launcher)
  else
    job.launcher = base .. ".sh"
    script = M.command_line(args) .. " > " .. M.quote(job.out) .. " 2>&1\n"
      .. "echo \"exited $?\" >> " .. M.quote(job.out) .. "\n"
    launch = "/bin/sh " .. M.quote(job.launcher) .. " > /dev/null 2>&1 &"
  end
  local f, err = io.open(job.launcher, "wb")
  if not f then return nil, "could not write " .. job.launcher .. ": " .. tostring(err) end
  f:write(script)
  f:close()
  os.remove(job.out)
  local pipe, perr = io.popen(launch, "r")
  if not pipe then
    os.remove(job.launcher)
    return nil, "could not start the moodscore client: " .. tostring(perr)
  end
  pipe:close()
  return job
end

-- The output so far, whether the client has ended, and its latest progress (fraction, message).
function M.poll(job)
  local text = M.read_file(job.out) or ""
  local fraction, message = nil, nil
  for line in text:gmatch("[^\n]+") do
    local fr, msg = line:match("^progress\t([^\t]*)\t([^\r]*)")
    if fr then fraction, message = tonumber(fr), msg end
  end
  local ended = text:match("^exited") ~= nil or text:match("\nexited") ~= nil
  return text, ended, fraction, message
end

-- Remove a background job's files (once it has ended: a running one would write them again).
function M.forget(job)
  if job then
    os.remove(job.out)
    os.remove(job.launcher)
  end
end

function M.fail(title, message)
  reaper.ShowMessageBox(message, title, 0)
end

-- Run the client and return its result and first piece; on failure show why (titled) and return nil.
function M.run_piece(title, args)
  local result, err = M.run(args)
  if not result then
    M.fail(title, err)
    return nil
  end
  local piece = result.pieces[1]
  if not piece then
    M.fail(title, "The bridge sent no music.")
    return nil
  end
  return result, piece
end

-- "Q1".."Q4" -> {"--quadrant", "Q1"}; "0.6 -0.4" (or "0.6;-0.4") -> {"--va", "0.6,-0.4"}
function M.emotion_args(text)
  text = (text or ""):gsub("^%s+", ""):gsub("%s+$", "")
  local q = text:upper():match("^(Q[1-4])$")
  if q then return { "--quadrant", q }, q end
  local v, a = text:match("^([%-%+]?[%d%.]+)[%s;/]+([%-%+]?[%d%.]+)$")
  if v and tonumber(v) and tonumber(a) then
    return { "--va", tonumber(v) .. "," .. tonumber(a) }, "V" .. v .. " A" .. a
  end
  return nil
end

return M
