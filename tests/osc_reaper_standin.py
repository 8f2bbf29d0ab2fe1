"""A stand-in for REAPER's ``reaper`` table, in Lua, and a runner that executes a ReaScript under lua5.4 with it.

Every API call is recorded with its arguments (numbers, booleans, strings, and objects such as "track#1").
The stand-in has one tempo and one time signature (REAPER_TEMPO, REAPER_TIMESIG), 960 PPQ per quarter note,
and one selected track ("track#1"); a selected video item when REAPER_VIDEO is set. io.popen is recorded too
and, with REAPER_FAKE_POPEN, returns that file's text instead of running anything.
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
local function obj(kind, n)
  return setmetatable({ id = kind .. "#" .. n }, { __tostring = function(o) return o.id end })
end
local track1, track2, video_take, video_src = obj("track", 1), obj("track", 2), obj("take", 1), obj("source", 1)
local video_item = obj("item", 1)
local items, takes = {}, {}

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
function api.TimeMap_GetTimeSigAtTime(proj, t)
  check(proj == 0 and type(t) == "number", "TimeMap_GetTimeSigAtTime")
  return num, den, tempo
end
function api.TimeMap2_timeToQN(proj, t)
  check(proj == 0 and type(t) == "number", "TimeMap2_timeToQN")
  return t * tempo / 60
end
function api.CreateNewMIDIItemInProj(track, s, e, qn)
  check(type(track) == "table" and type(s) == "number" and type(e) == "number" and e > s, "CreateNewMIDIItemInProj")
  local item = obj("item", #items + 2)
  local take = obj("take", #takes + 2)
  item.take, take.item = take, item
  item.start_qn = qn and s or s * tempo / 60
  items[#items + 1], takes[#takes + 1] = item, take
  return item
end
function api.GetActiveTake(item)
  check(type(item) == "table", "GetActiveTake")
  return item == video_item and video_take or item.take
end
function api.MIDI_GetPPQPosFromProjQN(take, qn)
  check(take.item and type(qn) == "number", "MIDI_GetPPQPosFromProjQN")
  return (qn - take.item.start_qn) * 960
end
function api.MIDI_InsertNote(take, sel, muted, s, e, chan, pitch, vel, nosort)
  check(take.item and type(sel) == "boolean" and type(muted) == "boolean"
        and type(s) == "number" and type(e) == "number"
        and e > s and math.type(chan) == "integer" and math.type(pitch) == "integer" and pitch >= 0 and pitch <= 127
        and math.type(vel) == "integer" and vel >= 1 and vel <= 127 and (nosort == nil or type(nosort) == "boolean"),
        "MIDI_InsertNote(take, selected, muted, startppq, endppq, chan, pitch, vel, noSort)")
  return true
end
function api.MIDI_Sort(take) check(take.item, "MIDI_Sort(take)") end
function api.GetSetMediaItemTakeInfo_String(take, parm, value, set)
  check(type(parm) == "string" and set == true, "GetSetMediaItemTakeInfo_String")
  return true, value
end
function api.GetSetMediaTrackInfo_String(track, parm, value, set)
  check(type(parm) == "string" and set == true, "GetSetMediaTrackInfo_String")
  return true, value
end
function api.UpdateArrange() end
function api.Undo_BeginBlock() end
function api.Undo_EndBlock(desc, flags)
  check(type(desc) == "string" and math.type(flags) == "integer", "Undo_EndBlock")
end
function api.ShowMessageBox(msg, title, kind)
  check(type(msg) == "string" and math.type(kind) == "integer", "ShowMessageBox")
  return 1
end
function api.GetSelectedMediaItem(proj, idx) if env("REAPER_VIDEO", "") == "" then return nil end; return video_item end
function api.TakeIsMIDI(take) return take ~= video_take end
function api.GetMediaItemTake_Source(take) check(take == video_take, "GetMediaItemTake_Source"); return video_src end
function api.GetMediaSourceFileName(src, buf)
  check(src == video_src and buf == "", "GetMediaSourceFileName(src, \"\")")
  return env("REAPER_VIDEO", "")
end
function api.GetMediaItemInfo_Value(item, parm)
  if parm == "D_POSITION" then return tonumber(env("REAPER_VIDEO_POS", "0")) end
  if parm == "D_LENGTH" then return tonumber(env("REAPER_VIDEO_LEN", "10")) end
  error("GetMediaItemInfo_Value: unexpected " .. tostring(parm))
end
function api.GetMediaItemTakeInfo_Value(take, parm)
  check(parm == "D_STARTOFFS", "GetMediaItemTakeInfo_Value")
  return 0.0
end
function api.GetMediaItem_Track(item) return track1 end
function api.GetMediaTrackInfo_Value(track, parm)
  check(parm == "IP_TRACKNUMBER", "GetMediaTrackInfo_Value")
  return 1.0
end
function api.InsertTrackAtIndex(idx, defaults)
  check(math.type(idx) == "integer" and type(defaults) == "boolean", "InsertTrackAtIndex")
end
function api.GetTrack(proj, idx) check(proj == 0 and idx == 1, "GetTrack"); return track2 end
function api.AddProjectMarker2(proj, isrgn, pos, rgnend, name, want, color)
  check(proj == 0 and type(isrgn) == "boolean" and type(name) == "string" and math.type(want) == "integer",
        "AddProjectMarker2")
  return 1
end

reaper = setmetatable({}, { __index = function(_, name)
  local f = api[name]
  if not f then error("unknown ReaScript function " .. tostring(name), 2) end
  return function(...) record(name, ...); return f(...) end
end })

local real_popen = io.popen
io.popen = function(cmd, mode)
  record("io.popen", cmd, mode)
  local fake = env("REAPER_FAKE_POPEN", "")
  if fake ~= "" then
    local f = io.open(fake, "r"); local text = f:read("a"); f:close()
    return { read = function() return text end, close = function() return true end }
  end
  return real_popen(cmd, mode)
end

local ok, err = pcall(dofile, script)
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
