-- @description moodscore: score the selected video item
-- @about
--   Sends the selected video item's source file to the moodscore OSC bridge, which reads the faces and
--   voices in it and composes music that follows the emotion. The music lands as a MIDI item on a new
--   track right under the video's track, aligned with the video item, and every emotion segment becomes
--   a project region named after it. Scoring a clip takes a while; REAPER waits until it is done.
--   The bridge must be allowed to read the file (`moodscore bridge --allow FOLDER`).

local TITLE = "moodscore: score video"
local dir = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
local common = dofile(dir .. "moodscore_common.lua")

local function main()
  local item = reaper.GetSelectedMediaItem(0, 0)
  local take = item and reaper.GetActiveTake(item)
  if not take or reaper.TakeIsMIDI(take) then
    common.fail(TITLE, "Select a video item first.")
    return
  end
  local path = reaper.GetMediaSourceFileName(reaper.GetMediaItemTake_Source(take), "")
  if not path or path == "" then
    common.fail(TITLE, "The selected item has no source file.")
    return
  end
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local offs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
  local _, _, tempo = reaper.TimeMap_GetTimeSigAtTime(0, pos)

  local result, piece = common.run_piece(TITLE, { "score", path, "--tempo", string.format("%.6f", tempo), "--timeout", "1800" })
  if not result then return end

  local clip_start = pos - offs            -- project time of the clip's first frame
  local item_end = pos + len
  local zero_qn = reaper.TimeMap2_timeToQN(0, clip_start)
  local end_qn = reaper.TimeMap2_timeToQN(0, item_end)

  reaper.Undo_BeginBlock()
  local video_track = reaper.GetMediaItem_Track(item)
  local index = math.floor(reaper.GetMediaTrackInfo_Value(video_track, "IP_TRACKNUMBER")) -- 1-based: below it
  reaper.InsertTrackAtIndex(index, true)
  local track = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "moodscore", true)
  local midi_item = reaper.CreateNewMIDIItemInProj(track, pos, item_end, false)
  local midi_take = reaper.GetActiveTake(midi_item)
  local pos_qn = reaper.TimeMap2_timeToQN(0, pos)
  for _, n in ipairs(piece.notes) do
    -- the music starts with the clip; what falls outside the (trimmed) video item is left out or shortened
    local s_qn = math.max(zero_qn + n.start, pos_qn)
    local e_qn = math.min(zero_qn + n.start + n.length, end_qn)
    if e_qn > s_qn then
      local s = reaper.MIDI_GetPPQPosFromProjQN(midi_take, s_qn)
      local e = reaper.MIDI_GetPPQPosFromProjQN(midi_take, e_qn)
      local vel = math.max(1, math.min(127, math.floor(n.velocity)))
      reaper.MIDI_InsertNote(midi_take, false, false, s, e, 0, math.floor(n.pitch), vel, true)
    end
  end
  reaper.MIDI_Sort(midi_take)
  reaper.GetSetMediaItemTakeInfo_String(midi_take, "P_NAME", piece.name, true)
  for _, seg in ipairs(result.segments) do
    local rs = math.max(clip_start + seg.start_s, pos)
    local re = math.min(clip_start + seg.end_s, item_end)
    if re > rs then
      reaper.AddProjectMarker2(0, true, rs, re, seg.quadrant .. " " .. seg.label, -1, 0)
    end
  end
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(TITLE, -1)
end

main()
