-- @description moodscore: compose for an emotion at the edit cursor
-- @about
--   Asks for an emotion (Q1 happy, Q2 tense, Q3 sad, Q4 calm, or a "valence arousal" point such as
--   "0.6 -0.4") and a length in bars, asks the moodscore OSC bridge for music at the project's tempo and
--   time signature at the edit cursor, and inserts it as a new MIDI item on the selected track.
--   Needs a running bridge (`moodscore bridge`) and the `moodscore` command; see moodscore_common.lua.

local TITLE = "moodscore: compose"
local dir = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
local common = dofile(dir .. "moodscore_common.lua")

local function main()
  local track = reaper.GetSelectedTrack(0, 0)
  if not track then
    common.fail(TITLE, "Select a track first: the music goes onto the selected track at the edit cursor.")
    return
  end
  local ok, csv = reaper.GetUserInputs(TITLE, 3,
    "Emotion (Q1-Q4 or 'valence arousal'),Length in bars,Key (auto / C / F# minor)", "Q1,8,auto")
  if not ok then return end
  local emotion, bars, key = csv:match("^([^,]*),([^,]*),([^,]*)$")
  local emo_args, emo_label = common.emotion_args(emotion)
  if not emo_args then
    common.fail(TITLE, "The emotion must be Q1, Q2, Q3, Q4 or two numbers in [-1, 1] like '0.6 -0.4', got '"
      .. tostring(emotion) .. "'.")
    return
  end
  bars = tonumber(bars)
  if not bars or bars < 1 or bars ~= math.floor(bars) then
    common.fail(TITLE, "The length must be a whole number of bars.")
    return
  end

  local cursor = reaper.GetCursorPosition()
  local num, den, tempo = reaper.TimeMap_GetTimeSigAtTime(0, cursor)
  local args = { "compose" }
  for _, a in ipairs(emo_args) do args[#args + 1] = a end
  for _, a in ipairs({ "--bars", string.format("%d", bars), "--tempo", string.format("%.6f", tempo),
                        "--timesig", string.format("%d/%d", num, den), "--key", key }) do
    args[#args + 1] = a
  end
  local result, piece = common.run_piece(TITLE, args)
  if not result then return end

  -- positions in quarter notes, so the notes sit on the project's beat grid whatever the tempo map says
  local start_qn = reaper.TimeMap2_timeToQN(0, cursor)
  local length_qn = piece.bars * num * 4 / den
  reaper.Undo_BeginBlock()
  local item = reaper.CreateNewMIDIItemInProj(track, start_qn, start_qn + length_qn, true)
  local take = reaper.GetActiveTake(item)
  for _, n in ipairs(piece.notes) do
    local s = reaper.MIDI_GetPPQPosFromProjQN(take, start_qn + n.start)
    local e = reaper.MIDI_GetPPQPosFromProjQN(take, start_qn + n.start + n.length)
    local vel = math.max(1, math.min(127, math.floor(n.velocity)))
    reaper.MIDI_InsertNote(take, false, false, s, e, 0, math.floor(n.pitch), vel, true)
  end
  reaper.MIDI_Sort(take)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", piece.name ~= "" and piece.name or emo_label, true)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(TITLE .. " (" .. emo_label .. ")", -1)
end

main()
