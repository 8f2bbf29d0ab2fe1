"""A stand-in for REAPER's ``reaper`` table, in Lua, and a runner that executes a ReaScript under lua5.4 with it.

Every API call is recorded with its arguments (numbers, booleans, strings, and objects such as "track#1"), each
with the signature ReaScript documents (a wrong type or count of arguments is an error, and so is a function the
stand-in does not know). The stand-in has one tempo and one time signature (REAPER_TEMPO, REAPER_TIMESIG), 960 PPQ
per quarter note, a list of tracks starting with one selected track ("track#1"), and a selected video item on it
when REAPER_VIDEO is set (REAPER_VIDEO_POS, _LEN, _OFFS), and the markers in REAPER_MARKERS ("name@s;...").
Audio sources know their length from the WAV header.

``reaper.defer`` is a loop the harness drives after the script's main chunk: every 30 ms (``tick`` is recorded)
it runs what was deferred, until nothing is (or REAPER_MAX_TICKS, then ``defer_limit``). ``gfx`` records what is
drawn; every call that returns an object is followed by a ``=`` record of what it returned. The window is closed
by the "user" once a drawn text matches the Lua pattern REAPER_CLOSE_WHEN (Esc is
pressed instead with REAPER_PRESS_ESC); with REAPER_TERMINATE_WHEN the loop stops once a drawn text matches, as
when the user runs the script again and REAPER terminates the running instance. Then the functions given to
``reaper.atexit`` run (``atexit`` is recorded). io.popen is recorded too and, with REAPER_FAKE_POPEN, returns that
file's text instead of running anything (a POSIX background launcher is recorded as ``launcher``, path and
text, and its output file gets that text and its "exited" line).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

STANDIN_LUA = r"""
local script, record_path = arg[1], arg[2]
local calls = {}
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end
local tempo = tonumber(env("REAPER_TEMPO", "120"))
local num, den = env("REAPER_TIMESIG", "4/4"):match("(%d+)/(%d+)")
num, den = tonumber(num), tonumber(den)
local counts = {}
local function obj(kind, fields)
  counts[kind] = (counts[kind] or 0) + 1
  local o = fields or {}
  o.id = kind .. "#" .. counts[kind]
  return setmetatable(o, { __tostring = function(x) return x.id end })
end
local track1 = obj("track")
local tracks = { track1 }  -- the project's tracks in order; track#1 holds the video and is selected
local video_src = obj("source", { path = env("REAPER_VIDEO", "") })
local video_item = obj("item", { track = track1 })
local video_take = obj("take", { item = video_item })
local sources = { [video_src] = true }
local now = 1000.0  -- reaper.time_precise(): advances with the defer loop's ticks

local function encode(v)
  local t = type(v)
  if t == "number" then return string.format("n:%.17g", v)
  elseif t == "boolean" then return "b:" .. tostring(v)
  elseif t == "string" then return "s:" .. v:gsub("\\", "\\\\"):gsub("\t", "\\t"):gsub("\n", "\\n")
  elseif t == "table" then return "o:" .. tostring(v.id)
  else return "nil" end
end
local function record(name, ...)
  local parts = { name }
  for i = 1, select("#", ...) do parts[#parts + 1] = encode((select(i, ...))) end
  calls[#calls + 1] = table.concat(parts, "\t")
end
local function check(cond, msg) if not cond then error("bad ReaScript call: " .. msg, 3) end end
local function is_obj(v, kind)
  return type(v) == "table" and type(v.id) == "string" and v.id:match("^" .. kind .. "#") ~= nil
end

-- the length in seconds of a WAV file, from its header (RIFF: fmt chunk's byte rate, data chunk's size)
local function wav_length(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then return nil end
  local at, byte_rate, size = 13, nil, nil
  while at + 8 <= #data do
    local id, n = data:sub(at, at + 3), string.unpack("<I4", data, at + 4)
    if id == "fmt " then byte_rate = string.unpack("<I4", data, at + 16) end
    if id == "data" then size = n; break end
    at = at + 8 + n + (n % 2)
  end
  if not byte_rate or not size then return nil end
  return size / byte_rate
end

local api = {}
function api.GetOS() return env("REAPER_OS", "Other") end
function api.HasExtState(section, key) return false end
function api.GetExtState(section, key) return "" end
function api.SetExtState(section, key, value, persist) end
function api.GetSelectedTrack(proj, idx) check(proj == 0 and idx == 0, "GetSelectedTrack(0, 0)"); return track1 end
function api.GetUserInputs(title, n, captions, defaults)
  check(type(title) == "string" and math.type(n) == "integer" and type(captions) == "string", "GetUserInputs")
  return true, env("REAPER_INPUTS", defaults)
end
function api.GetCursorPosition() return tonumber(env("REAPER_CURSOR", "0")) end
function api.time_precise() return now end
function api.TimeMap_GetTimeSigAtTime(proj, t)
  check(proj == 0 and type(t) == "number", "TimeMap_GetTimeSigAtTime")
  return num, den, tempo
end
function api.TimeMap2_timeToQN(proj, t)
  check(proj == 0 and type(t) == "number", "TimeMap2_timeToQN")
  return t * tempo / 60
end
function api.CreateNewMIDIItemInProj(track, s, e, qn)
  check(is_obj(track, "track") and type(s) == "number" and type(e) == "number" and e > s, "CreateNewMIDIItemInProj")
  local item = obj("item", { track = track })
  item.take = obj("take", { item = item })
  item.start_qn = qn and s or s * tempo / 60
  return item
end
function api.GetActiveTake(item)
  check(is_obj(item, "item"), "GetActiveTake")
  return item == video_item and video_take or item.take
end
function api.MIDI_GetPPQPosFromProjQN(take, qn)
  check(is_obj(take, "take") and take.item.start_qn and type(qn) == "number", "MIDI_GetPPQPosFromProjQN")
  return (qn - take.item.start_qn) * 960
end
function api.MIDI_GetPPQPosFromProjTime(take, t)
  check(is_obj(take, "take") and take.item.start_qn and type(t) == "number", "MIDI_GetPPQPosFromProjTime")
  return (t * tempo / 60 - take.item.start_qn) * 960
end
function api.MIDI_InsertNote(take, sel, muted, s, e, chan, pitch, vel, nosort)
  check(is_obj(take, "take") and take.item.start_qn and type(sel) == "boolean" and type(muted) == "boolean"
        and type(s) == "number" and type(e) == "number"
        and e > s and math.type(chan) == "integer" and math.type(pitch) == "integer" and pitch >= 0 and pitch <= 127
        and math.type(vel) == "integer" and vel >= 1 and vel <= 127 and (nosort == nil or type(nosort) == "boolean"),
        "MIDI_InsertNote(take, selected, muted, startppq, endppq, chan, pitch, vel, noSort)")
  return true
end
function api.MIDI_Sort(take) check(is_obj(take, "take") and take.item.start_qn, "MIDI_Sort(take)") end
function api.GetSetMediaItemTakeInfo_String(take, parm, value, set)
  check(is_obj(take, "take") and type(parm) == "string" and type(value) == "string" and set == true,
        "GetSetMediaItemTakeInfo_String(take, parm, value, true)")
  return true, value
end
function api.GetSetMediaTrackInfo_String(track, parm, value, set)
  check(is_obj(track, "track") and type(parm) == "string" and type(value) == "string" and set == true,
        "GetSetMediaTrackInfo_String(track, parm, value, true)")
  return true, value
end
function api.UpdateArrange() end
function api.PreventUIRefresh(n) check(math.type(n) == "integer", "PreventUIRefresh(integer)") end
function api.Undo_BeginBlock() end
function api.Undo_EndBlock(desc, flags)
  check(type(desc) == "string" and math.type(flags) == "integer", "Undo_EndBlock")
end
function api.Undo_DoUndo2(proj) check(proj == 0, "Undo_DoUndo2(0)"); return 1 end
function api.ShowMessageBox(msg, title, kind)
  check(type(msg) == "string" and type(title) == "string" and math.type(kind) == "integer", "ShowMessageBox")
  return 1
end
function api.GetSelectedMediaItem(proj, idx)
  check(proj == 0 and idx == 0, "GetSelectedMediaItem(0, 0)")
  if env("REAPER_VIDEO", "") == "" then return nil end
  return video_item
end
function api.TakeIsMIDI(take) check(is_obj(take, "take"), "TakeIsMIDI"); return take ~= video_take end
function api.GetMediaItemTake_Source(take) check(take == video_take, "GetMediaItemTake_Source"); return video_src end
function api.GetMediaSourceFileName(src, buf)
  check(src == video_src and buf == "", "GetMediaSourceFileName(src, \"\")")
  return video_src.path
end
function api.GetMediaItemInfo_Value(item, parm)
  check(item == video_item, "GetMediaItemInfo_Value on the video item")
  if parm == "D_POSITION" then return tonumber(env("REAPER_VIDEO_POS", "0")) end
  if parm == "D_LENGTH" then return tonumber(env("REAPER_VIDEO_LEN", "10")) end
  error("GetMediaItemInfo_Value: unexpected " .. tostring(parm))
end
function api.GetMediaItemTakeInfo_Value(take, parm)
  check(take == video_take and parm == "D_STARTOFFS", "GetMediaItemTakeInfo_Value")
  return tonumber(env("REAPER_VIDEO_OFFS", "0"))
end
function api.GetMediaItem_Track(item) check(is_obj(item, "item"), "GetMediaItem_Track"); return item.track end
function api.GetMediaTrackInfo_Value(track, parm)
  check(is_obj(track, "track") and parm == "IP_TRACKNUMBER", "GetMediaTrackInfo_Value")
  for i, t in ipairs(tracks) do if t == track then return i + 0.0 end end
  error("GetMediaTrackInfo_Value: a track not in the project")
end
function api.InsertTrackAtIndex(idx, defaults)
  check(math.type(idx) == "integer" and idx >= 0 and idx <= #tracks and type(defaults) == "boolean",
        "InsertTrackAtIndex(integer index from 0, boolean)")
  table.insert(tracks, idx + 1, obj("track"))
end
function api.GetTrack(proj, idx)
  check(proj == 0 and math.type(idx) == "integer", "GetTrack(0, integer)")
  return tracks[idx + 1]
end
function api.AddMediaItemToTrack(track)
  check(is_obj(track, "track"), "AddMediaItemToTrack(track)")
  return obj("item", { track = track })
end
function api.AddTakeToMediaItem(item)
  check(is_obj(item, "item") and not item.take, "AddTakeToMediaItem(item)")
  item.take = obj("take", { item = item })
  return item.take
end
function api.PCM_Source_CreateFromFile(path)
  check(type(path) == "string", "PCM_Source_CreateFromFile(filename)")
  local length = wav_length(path)
  if not length then return nil end
  local src = obj("source", { path = path, length = length })
  sources[src] = true
  return src
end
function api.PCM_Source_Destroy(src) check(sources[src], "PCM_Source_Destroy(source)"); sources[src] = nil end
function api.SetMediaItemTake_Source(take, src)
  check(is_obj(take, "take") and sources[src], "SetMediaItemTake_Source(take, source)")
  take.source = src
  return true
end
function api.GetMediaSourceLength(src)
  check(sources[src] and src.length, "GetMediaSourceLength(source)")
  return src.length, false
end
local ITEM_PARMS = { D_POSITION = true, D_LENGTH = true, D_VOL = true, B_MUTE = true }
function api.SetMediaItemInfo_Value(item, parm, value)
  check(is_obj(item, "item") and ITEM_PARMS[parm] and type(value) == "number", "SetMediaItemInfo_Value")
  return true
end
function api.SetMediaItemTakeInfo_Value(take, parm, value)
  check(is_obj(take, "take") and (parm == "D_STARTOFFS" or parm == "D_VOL") and type(value) == "number",
        "SetMediaItemTakeInfo_Value")
  return true
end
function api.ColorToNative(r, g, b)
  check(math.type(r) == "integer" and math.type(g) == "integer" and math.type(b) == "integer", "ColorToNative")
  return r | (g << 8) | (b << 16)  -- Windows' RGB() layout
end
function api.AddProjectMarker2(proj, isrgn, pos, rgnend, name, want, color)
  check(proj == 0 and type(isrgn) == "boolean" and type(pos) == "number" and type(rgnend) == "number"
        and type(name) == "string" and math.type(want) == "integer" and math.type(color) == "integer"
        and (not isrgn or rgnend > pos), "AddProjectMarker2(0, isrgn, pos, rgnend, name, wantidx, color)")
  return 1
end

-- the project's markers before the script runs: REAPER_MARKERS is "name@seconds;name@seconds..."
local project_markers = {}
for name, pos in env("REAPER_MARKERS", ""):gmatch("([^;@]*)@([^;]+)") do
  project_markers[#project_markers + 1] = { name = name, pos = tonumber(pos) }
end
function api.CountProjectMarkers(proj)
  check(proj == 0, "CountProjectMarkers(0)")
  return #project_markers, #project_markers, 0
end
function api.EnumProjectMarkers3(proj, idx)
  check(proj == 0 and math.type(idx) == "integer", "EnumProjectMarkers3(0, integer)")
  local m = project_markers[idx + 1]
  if not m then return 0, false, 0.0, 0.0, "", 0, 0 end
  return idx + 1, false, m.pos, 0.0, m.name, idx + 1, 0
end

-- reaper.defer: the function runs on a later tick of the loop below, as REAPER runs it about 30 times a second
local deferred, at_exit = {}, {}
function api.defer(fn) check(type(fn) == "function", "defer(function)"); deferred[#deferred + 1] = fn end
function api.atexit(fn) check(type(fn) == "function", "atexit(function)"); at_exit[#at_exit + 1] = fn end

reaper = setmetatable({}, { __index = function(_, name)
  local f = api[name]
  if not f then error("unknown ReaScript function " .. tostring(name), 2) end
  return function(...)
    record(name, ...)
    local out = table.pack(f(...))
    if type(out[1]) == "table" then record("=", table.unpack(out, 1, out.n)) end  -- what made objects returned
    return table.unpack(out, 1, out.n)
  end
end })

-- gfx: a window that records what is drawn; the "user" closes it (getchar -1) once a drawn text matches
-- REAPER_CLOSE_WHEN (a Lua pattern), or presses Esc (27) instead with REAPER_PRESS_ESC
local window = { open = false, closed = false }
local gfx_api = {}
function gfx_api.init(name, w, h)
  check(type(name) == "string" and math.type(w) == "integer" and math.type(h) == "integer", "gfx.init(name, w, h)")
  window.open, window.closed = true, false
  gfx.w, gfx.h = w, h
  return 1
end
local function drawing(what) check(window.open, what .. " while no gfx window is open") end
function gfx_api.set(r, g, b, a) drawing("gfx.set"); check(type(r) == "number", "gfx.set(r, g, b)") end
function gfx_api.rect(x, y, w, h, filled)
  drawing("gfx.rect")
  check(type(x) == "number" and type(y) == "number" and type(w) == "number" and type(h) == "number", "gfx.rect")
end
function gfx_api.drawstr(text)
  drawing("gfx.drawstr")
  check(type(text) == "string", "gfx.drawstr(string)")
  local when = env("REAPER_CLOSE_WHEN", "")
  if when ~= "" and text:match(when) then window.closing = true end
  local stop = env("REAPER_TERMINATE_WHEN", "")
  if stop ~= "" and text:match(stop) then window.closing_text = true end
end
function gfx_api.update() drawing("gfx.update") end
function gfx_api.getchar()
  if not window.open or window.closed then return -1 end
  if window.closing then
    if env("REAPER_PRESS_ESC", "") ~= "" then window.closing = false; return 27 end
    window.closed = true
    return -1
  end
  return 0
end
function gfx_api.quit() window.open = false end
gfx = setmetatable({ x = 0, y = 0, w = 0, h = 0 }, { __index = function(_, name)
  local f = gfx_api[name]
  if not f then error("unknown gfx function " .. tostring(name), 2) end
  return function(...) record("gfx." .. name, ...); return f(...) end
end })

local real_popen = io.popen
io.popen = function(cmd, mode)
  record("io.popen", cmd, mode)
  local fake = env("REAPER_FAKE_POPEN", "")
  if fake ~= "" then
    local f = io.open(fake, "r"); local text = f:read("a"); f:close()
    -- a POSIX background launcher: the client's "output" goes where the launcher would have sent it
    local launcher = cmd:match("^/bin/sh '([^']+)'")
    local script = launcher and io.open(launcher, "r")
    if script then
      local body = script:read("a")
      script:close()
      record("launcher", launcher, body)
      local out = body:match("> '([^']+)' 2>&1")
      local o = io.open(out, "w"); o:write(text, "exited 0\n"); o:close()
    end
    return { read = function() return text end, close = function() return true end }
  end
  return real_popen(cmd, mode)
end

local ok, err = pcall(dofile, script)
local ticks, max_ticks = 0, tonumber(env("REAPER_MAX_TICKS", "6000"))
local terminate_when = env("REAPER_TERMINATE_WHEN", "")
while ok and #deferred > 0 do
  if ticks >= max_ticks then record("defer_limit", ticks); break end
  if terminate_when ~= "" and window.closing_text then record("terminated", ticks); break end
  local run = deferred
  deferred = {}
  os.execute("sleep 0.03")
  now = now + 0.03
  ticks = ticks + 1
  record("tick", ticks)
  for _, fn in ipairs(run) do
    ok, err = pcall(fn)
    if not ok then break end
  end
end
-- the script has ended (or was terminated): REAPER runs its atexit functions
for _, fn in ipairs(at_exit) do
  if not ok then break end
  record("atexit")
  ok, err = pcall(fn)
end
local out = io.open(record_path, "w")
for _, line in ipairs(calls) do out:write(line, "\n") end
if not ok then out:write("lua_error\ts:", (tostring(err):gsub("\n", "\\n")), "\n") end
out:close()
"""


def _decode(field: str) -> Any:
    if field == "nil":
        return None
    kind, _, text = field.partition(":")
    if kind == "n":
        value = float(text)
        return int(value) if value.is_integer() and "." not in text and "e" not in text else value
    if kind == "b":
        return text == "true"
    if kind == "s":
        return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
    return text  # an object id


def run_script(script: Path, tmp: Path, env: dict[str, str], *, timeout: float = 60) -> tuple[list[list[Any]], str]:
    """Run ``script`` with the stand-in; returns the recorded calls and the Lua error ('' if none)."""
    harness = tmp / "reaper_standin.lua"
    harness.write_text(STANDIN_LUA, encoding="utf-8")
    record = tmp / "calls.txt"
    proc = subprocess.run(
        ["lua5.4", str(harness), str(script), str(record)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    calls = [
        [_decode(f) if i else f for i, f in enumerate(line.split("\t"))] for line in record.read_text().splitlines()
    ]
    errors = [c[1] for c in calls if c[0] == "lua_error"]
    return [c for c in calls if c[0] != "lua_error"], errors[0] if errors else ""
