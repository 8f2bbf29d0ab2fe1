-- @description moodscore: score the selected video item
-- @about
--   Sends the selected video item's source file to the moodscore OSC bridge, which reads the faces and
--   voices in it and composes music that follows the emotion, locked to the picture's cuts. The music lands
--   right under the video's track, aligned with the clip's first frame: one track per stem (piano, bass,
--   pad...: audio files the bridge rendered) and one with the MIDI of every part; every section of the music
--   becomes a region named (and coloured) after its emotion, every cut a marker. All of it is one undo step.
--   Hits: project markers named "hit..." over the video item are moments the music must hit (a downbeat,
--   an accent); put them there before running the script.
--   REAPER stays responsive while the bridge works: a small window shows the progress; close it (or press
--   Esc in it, or run the script again and let REAPER terminate the running one) to cancel, which cancels the
--   job on the bridge too and changes nothing in the project.
--   The bridge must be allowed to read the file (`moodscore bridge --allow FOLDER`).

local TITLE = "moodscore: score video"
local INSTRUMENTS = "piano,bass,pad"
local dir = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
local common = dofile(dir .. "moodscore_common.lua")

local run = nil -- the scoring under way: what was selected, the background client, the cancel request

-- The selected video item: its file and where the clip's first frame sits in the project; nil and why not.
local function selected_video()
  local item = reaper.GetSelectedMediaItem(0, 0)
  local take = item and reaper.GetActiveTake(item)
  if not take or reaper.TakeIsMIDI(take) then return nil, "Select a video item first." end
  local path = reaper.GetMediaSourceFileName(reaper.GetMediaItemTake_Source(take), "")
  if not path or path == "" then return nil, "The selected item has no source file." end
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local offs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
  local _, _, tempo = reaper.TimeMap_GetTimeSigAtTime(0, pos)
  return { item = item, path = path, pos = pos, len = len, offs = offs, tempo = tempo,
           clip_start = pos - offs, item_end = pos + len }
end

-- The project's markers named "hit..." over the video item, as seconds from the clip's first frame.
local function hits_over(video)
  local hits = {}
  local count = reaper.CountProjectMarkers(0)
  for i = 0, count - 1 do
    local ok, isrgn, pos, _, name = reaper.EnumProjectMarkers3(0, i)
    if ok and ok > 0 and not isrgn and (name or ""):lower():match("^hit") and pos >= video.pos
       and pos <= video.item_end then
      hits[#hits + 1] = string.format("%.4f", pos - video.clip_start)
    end
  end
  return table.concat(hits, ",")
end

local function native_color(rgb)
  if not rgb or rgb < 0 then return 0 end
  local r, g, b = (rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255
  return reaper.ColorToNative(r, g, b) | 0x1000000
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Put the scored music into the project, all in one undo block. Every stem's source is opened first: if one
-- cannot be read nothing is inserted.
local function insert(video, result)
  local piece = result.pieces[1]
  if not piece then return common.fail(TITLE, "The bridge sent no music.") end
  if #result.stems == 0 then return common.fail(TITLE, "The bridge sent no stems.") end
  local sources = {}
  for i, stem in ipairs(result.stems) do
    local src = file_exists(stem.wav) and reaper.PCM_Source_CreateFromFile(stem.wav) or nil
    if not src then
      for _, made in ipairs(sources) do reaper.PCM_Source_Destroy(made) end
      return common.fail(TITLE, "Cannot read the stem " .. tostring(stem.wav) .. " (is the bridge on another machine?)")
    end
    sources[i] = src
  end

  reaper.PreventUIRefresh(1)
  reaper.Undo_BeginBlock()
  local ok, err = pcall(function()
    local video_track = reaper.GetMediaItem_Track(video.item)
    local below = math.floor(reaper.GetMediaTrackInfo_Value(video_track, "IP_TRACKNUMBER")) -- 1-based: under it
    local function new_track(name)
      reaper.InsertTrackAtIndex(below, true)
      local track = reaper.GetTrack(0, below)
      below = below + 1
      reaper.GetSetMediaTrackInfo_String(track, "P_NAME", name, true)
      return track
    end

    -- the stems: second 0 of each file is the clip's first frame; each item shows what the video item shows
    for i, stem in ipairs(result.stems) do
      local track = new_track(stem.part)
      local src_len = reaper.GetMediaSourceLength(sources[i])
      local length = math.min(video.len, src_len - video.offs)
      local item = reaper.AddMediaItemToTrack(track)
      local take = reaper.AddTakeToMediaItem(item)
      reaper.SetMediaItemTake_Source(take, sources[i])
      reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", video.offs)
      reaper.SetMediaItemInfo_Value(item, "D_POSITION", video.pos)
      reaper.SetMediaItemInfo_Value(item, "D_LENGTH", math.max(length, 0))
      reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", stem.part, true)
    end

    -- the MIDI of every part, note by note at its time in the clip (whatever the project's tempo map)
    local midi_track = new_track("moodscore MIDI")
    local midi_item = reaper.CreateNewMIDIItemInProj(midi_track, video.pos, video.item_end, false)
    local midi_take = reaper.GetActiveTake(midi_item)
    local per_beat = 60 / piece.tempo
    for _, n in ipairs(piece.notes) do
      -- what falls outside the (trimmed) video item is left out or shortened
      local s_t = math.max(video.clip_start + n.start * per_beat, video.pos)
      local e_t = math.min(video.clip_start + (n.start + n.length) * per_beat, video.item_end)
      if e_t > s_t then
        local s = reaper.MIDI_GetPPQPosFromProjTime(midi_take, s_t)
        local e = reaper.MIDI_GetPPQPosFromProjTime(midi_take, e_t)
        local vel = math.max(1, math.min(127, math.floor(n.velocity)))
        reaper.MIDI_InsertNote(midi_take, false, false, s, e, 0, math.floor(n.pitch), vel, true)
      end
    end
    reaper.MIDI_Sort(midi_take)
    reaper.GetSetMediaItemTakeInfo_String(midi_take, "P_NAME", piece.name, true)

    -- a region per section of the music, named and coloured after its emotion; a marker per cut and hit
    for _, sec in ipairs(result.sections) do
      local rs = math.max(video.clip_start + sec.start_s, video.pos)
      local re = math.min(video.clip_start + sec.end_s, video.item_end)
      if re > rs then
        reaper.AddProjectMarker2(0, true, rs, re, sec.name, -1, native_color(sec.color))
      end
    end
    for _, m in ipairs(result.markers) do
      local t = video.clip_start + m.time_s
      -- (the hits came from the project's own markers: they are there already)
      if m.kind ~= "hit" and t >= video.pos and t <= video.item_end then
        reaper.AddProjectMarker2(0, false, t, 0, m.name, -1, 0)
      end
    end
  end)
  reaper.Undo_EndBlock(TITLE, -1)
  if not ok then reaper.Undo_DoUndo2(0) end -- a failure half-way: take back what was inserted
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  if not ok then common.fail(TITLE, "Could not insert the music: " .. tostring(err)) end
end

-- The progress window ---------------------------------------------------------------------------------------

local function draw(fraction, message)
  gfx.set(0.13, 0.13, 0.13)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  gfx.set(0.9, 0.9, 0.9)
  gfx.x, gfx.y = 12, 10
  gfx.drawstr(string.format("%d%%  %s", math.floor(100 * fraction + 0.5), message))
  gfx.set(0.3, 0.3, 0.3)
  gfx.rect(12, 36, gfx.w - 24, 14, 1)
  gfx.set(0.35, 0.65, 0.95)
  gfx.rect(12, 36, math.floor((gfx.w - 24) * math.max(0, math.min(1, fraction))), 14, 1)
  gfx.set(0.6, 0.6, 0.6)
  gfx.x, gfx.y = 12, 62
  gfx.drawstr("Close this window (or press Esc) to cancel.")
  gfx.update()
end

local function cleanup()
  run.finished = true
  gfx.quit()
  common.forget(run.job)
  common.forget(run.cancel)
end

-- The script ended while the bridge works (run again and its instance terminated, or REAPER quitting): cancel
-- the job on the bridge. Nothing was inserted; the client's small files stay in the temp folder, since it
-- may still write them.
local function on_exit()
  if run and not run.finished then
    run.finished = true
    if not run.cancelling then
      common.start({ "cancel", "--of", run.id, "--timeout", "10" }, run.id .. "-cancel")
    end
    gfx.quit()
  end
end

local function tick()
  if run.cancelling then
    -- wait (briefly) until both clients have ended, so that nothing writes the files again after they go
    local _, ended = common.poll(run.job)
    local _, cancel_ended = common.poll(run.cancel)
    if (ended and cancel_ended) or reaper.time_precise() > run.give_up then
      cleanup()
      return
    end
    draw(run.fraction, "cancelling...")
    reaper.defer(tick)
    return
  end
  local char = gfx.getchar()
  if char < 0 or char == 27 then -- the window was closed, or Esc: cancel the job on the bridge, insert nothing
    run.cancelling = true
    run.give_up = reaper.time_precise() + 15
    run.cancel = common.start({ "cancel", "--of", run.id, "--timeout", "10" }, run.id .. "-cancel")
    if not run.cancel then
      cleanup()
      return
    end
    reaper.defer(tick)
    return
  end
  local text, ended, fraction, message = common.poll(run.job)
  if ended then
    cleanup()
    local result, err = common.parse(text)
    if not result then return common.fail(TITLE, err) end
    return insert(run.video, result)
  end
  if fraction then run.fraction, run.message = fraction, message end
  draw(run.fraction, run.message)
  reaper.defer(tick)
end

local function main()
  local video, why = selected_video()
  if not video then return common.fail(TITLE, why) end
  local id = string.format("reaper-%d-%06d", os.time(), math.floor(reaper.time_precise() * 1000) % 1000000)
  local args = { "score", video.path, "--stems", "--instruments", INSTRUMENTS,
                 "--tempo", string.format("%.6f", video.tempo), "--id", id, "--progress-lines", "--timeout", "1800" }
  local hits = hits_over(video)
  if hits ~= "" then
    args[#args + 1] = "--hits"
    args[#args + 1] = hits
  end
  local job, err = common.start(args, id)
  if not job then return common.fail(TITLE, err) end
  run = { video = video, job = job, id = id, fraction = 0, message = "starting the moodscore client" }
  reaper.atexit(on_exit)
  gfx.init(TITLE, 460, 86)
  tick()
end

main()
