"""The bridge over real OSC on 127.0.0.1: replies, the music itself, errors, and a flood of requests."""

from __future__ import annotations

import io
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from osc_helpers import Peer, debug_engine, notes_in_beats, one_torch_thread, running_bridge

from moodscore.models import ComposeRequest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with one_torch_thread(), running_bridge(tmp_path_factory.mktemp("bridge_out"), allowed_roots=[DATA]) as server:
        yield server


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as p:
        yield p


def _by_address(replies: list[tuple[str, list[Any]]], address: str) -> list[list[Any]]:
    return [a for addr, a in replies if addr == f"/moodscore/{address}"]


def test_ping_replies_to_the_sender(bridge: Any, peer: Peer) -> None:
    peer.send(bridge.address, "/moodscore/ping", "p1")
    assert peer.until("p1", 5, last=("/moodscore/pong",)) == [("/moodscore/pong", ["p1", "1"])]


def test_compose_delivers_the_notes_the_engine_composes(bridge: Any, peer: Peer) -> None:
    peer.send(bridge.address, "/moodscore/compose", "c1", "quadrant", "Q3", "bars", 2, "tempo", 90.0, "seed", 5)
    replies = peer.until("c1")
    assert replies[-1] == ("/moodscore/done", ["c1", "compose", 1])
    progress = _by_address(replies, "progress")
    assert progress and progress[-1][1] == 1.0 and all(0 <= p[1] <= 1 for p in progress)
    (piece,) = _by_address(replies, "piece")
    _, index, tempo, key, bars, quadrants, n_notes, name, path, blob = piece
    assert (index, tempo, bars, quadrants, name) == (0, 90.0, 2, "Q3,Q3", "Q3 sad / low")
    got = [n for a in _by_address(replies, "notes") for n in zip(*[iter(a[3:])] * 4, strict=True)]
    assert len(got) == n_notes > 0

    (score,) = debug_engine().compose(ComposeRequest(emotion="Q3", bars=2, tempo=90.0, seed=5))
    assert key == score.key
    expected = notes_in_beats(score.midi, 90.0)  # (the reply's beats are rounded to 1/1920 beat)
    assert len(got) == len(expected)
    for (p, s, d, v), (p2, s2, d2, v2) in zip(sorted(got), expected, strict=True):
        assert (p, v) == (p2, v2) and abs(s - s2) < 1e-3 and abs(d - d2) < 1e-3
    midi_file = Path(path)
    assert midi_file.is_relative_to(bridge.ctx.out_dir) and midi_file.read_bytes() == blob
    from_blob = notes_in_beats(pretty_midi.PrettyMIDI(io.BytesIO(blob)), 90.0)
    assert [(p, v) for p, _, _, v in from_blob] == [(p, v) for p, _, _, v in sorted(got)]
    times = [t for _, s, d, _ in sorted(got) for t in (s, d)]
    assert [float(t) for _, s, d, _ in from_blob for t in (s, d)] == pytest.approx(times, abs=0.01)


def test_replies_go_to_a_named_reply_port(bridge: Any, peer: Peer) -> None:
    with Peer() as listener:
        peer.send(bridge.address, "/moodscore/ping", "r1", "reply_port", listener.port)
        assert listener.until("r1", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"


@pytest.mark.parametrize(
    ("address", "args", "needle"),
    [
        ("/moodscore/compose", ["e1", "quadrant", "Q1", "bars", 2, "timesig", "3/4"], "only 4/4 is supported"),
        ("/moodscore/compose", ["e1", "quadrant", "Q9"], "unknown quadrant"),
        ("/moodscore/compose", ["e1", "quadrant", "Q1", "bars", "eight"], "'bars' must be int"),
        ("/moodscore/compose", ["e1", "quadrant", "Q1", "bars", 0], "bars must be"),
        ("/moodscore/compose", ["e1", "quadrant", "Q1", "tempo", 3.0], "tempo must be from 20"),
        ("/moodscore/compose", ["e1", "quadrant", "Q1", "seed", -3], "seed must be"),
        ("/moodscore/compose", ["e1", "valence", 0.5], "both 'valence' and 'arousal'"),
        ("/moodscore/compose", ["e1", "quadrant"], "name-value pairs"),
        ("/moodscore/compose", [2.5, "quadrant", "Q1"], "request id"),
        ("/moodscore/nothing", ["e1"], "unknown address"),
        ("/moodscore/score", ["e1", "path", "/etc/passwd"], "outside the folders"),
        ("/moodscore/score", ["e1", "path", str(DATA / ".." / "test_bridge_server.py")], "outside the folders"),
        ("/moodscore/score", ["e1", "path", str(DATA / "missing.mp4")], "no such file"),
        ("/moodscore/score", ["e1"], "needs a 'path'"),
        ("/moodscore/ableton", ["e1", "quadrant", "Q1", "slot", 0], "needs a 'track'"),
    ],
)
def test_bad_requests_get_one_readable_error(
    bridge: Any, peer: Peer, address: str, args: list[Any], needle: str
) -> None:
    peer.send(bridge.address, address, *args)
    replies = peer.receive(timeout=5)
    assert len(replies) == 1, replies
    addr, (rid, request_address, reason) = replies[0]
    assert addr == "/moodscore/error" and request_address == address
    assert rid == ("e1" if isinstance(args[0], str) else "")
    assert needle in reason and "\n" not in reason


def test_a_malformed_datagram_gets_an_error_and_the_server_keeps_serving(bridge: Any, peer: Peer) -> None:
    nested = b"/moodscore/ping\x00,\x00\x00\x00"
    for _ in range(2000):  # bundles inside bundles, 2,000 deep (40 KB): once a RecursionError and no reply
        nested = b"#bundle\x00" + bytes(8) + len(nested).to_bytes(4, "big") + nested
    junk = (b"", b"hello", b"/moodscore/ping\x00,i\x00\x00", b"#bundle\x00\x01", bytes(range(256)), nested)
    for datagram in junk:
        peer.send_raw(bridge.address, datagram)
    errors = peer.receive(timeout=20, count=6)  # the deep bundle takes a while to refuse on a busy machine
    assert [a for a, _ in errors] == ["/moodscore/error"] * 6
    assert peer.receive(timeout=0.5) == []  # one error per datagram, no more
    assert "nested too deep" in errors[-1][1][2]
    peer.send(bridge.address, "/moodscore/ping", "alive")
    assert peer.until("alive", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"


def test_status_reports_a_request_by_its_id(bridge: Any, peer: Peer) -> None:
    peer.send(bridge.address, "/moodscore/compose", "s1", "quadrant", "Q4", "bars", 1)
    peer.until("s1")
    peer.send(bridge.address, "/moodscore/status", "s2", "of", "s1")
    assert peer.until("s2", 5, last=("/moodscore/status",)) == [("/moodscore/status", ["s2", "s1", "done", 1.0, ""])]
    states = []
    for i in range(20):  # the worker counts itself free a moment after its last reply
        peer.send(bridge.address, "/moodscore/status", f"s3-{i}")
        (reply,) = peer.until(f"s3-{i}", 5, last=("/moodscore/status",))
        states.append(reply[1][2])
        if states[-1] == "idle":
            break
        time.sleep(0.05)
    assert states[-1] == "idle" and set(states) <= {"busy", "idle"} and "engine=debug" in reply[1][4]


def test_a_flood_of_1000_requests_is_answered_and_memory_stays_bounded(bridge: Any, peer: Peer) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent: set[str] = set()
    for i in range(1000):
        rid = f"f{i}"
        sent.add(rid)
        if i % 4 == 0:  # valid work: a few run, the rest find the queue full
            peer.send(bridge.address, "/moodscore/compose", rid, "quadrant", "Q1", "bars", 1)
        elif i % 4 == 1:
            peer.send(bridge.address, "/moodscore/compose", rid, "bars", "x")
        elif i % 4 == 2:
            peer.send(bridge.address, "/moodscore/unknown", rid)
        else:
            peer.send(bridge.address, "/moodscore/score", rid, "path", "/etc/shadow")
        if i % 50 == 49:
            time.sleep(0.005)  # a fast sender, but not one that overruns the kernel's socket buffer
    final: dict[str, str] = {}
    deadline = time.monotonic() + 40
    while len(final) < len(sent) and time.monotonic() < deadline:
        for address, args in peer.receive(timeout=2):
            if address in ("/moodscore/done", "/moodscore/error"):
                final[args[0]] = address if address == "/moodscore/done" else args[2]
    assert set(final) == sent
    done = [r for r, v in final.items() if v == "/moodscore/done"]
    busy = [r for r, v in final.items() if "queue is full" in v]
    # how many run depends on how fast this machine composes during the flood (33 once, under load from another
    # job); what must hold: some ran, the bounded queue turned the rest away, and every valid request got an answer
    assert len(done) >= 1 and len(busy) >= 1 and len(done) + len(busy) == 250
    assert len(bridge._states) <= 256 and bridge.runner.in_flight == 0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # KiB
    peer.send(bridge.address, "/moodscore/ping", "after")
    assert peer.until("after", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"


def test_old_request_folders_are_pruned(tmp_path: Path) -> None:
    (tmp_path / "keep-me").mkdir()  # not the bridge's: left alone
    with one_torch_thread(), running_bridge(tmp_path, keep=2) as small, Peer() as peer:
        for i in range(4):
            peer.send(small.address, "/moodscore/compose", f"k{i}", "quadrant", "Q2", "bars", 1)
            assert peer.until(f"k{i}")[-1][0] == "/moodscore/done"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and "keep-me" in names and names[0].endswith("-00003-k2") and names[1].endswith("-00004-k3")


def test_a_clip_swapped_while_the_request_waits_is_not_what_gets_read(tmp_path: Path) -> None:
    """The path is checked against --allow and the file opened at once; swapping a folder of the path for a
    symbolic link to a file outside --allow afterwards does not change what the job reads."""
    from moodscore.bridge.handlers import Context, allowed_clip
    from moodscore.bridge.protocol import RequestError

    allowed, outside = tmp_path / "allowed", tmp_path / "secret"
    (allowed / "shots").mkdir(parents=True)
    outside.mkdir()
    (allowed / "shots" / "take.mp4").write_bytes(b"the allowed clip")
    (outside / "take.mp4").write_bytes(b"somebody else's file")
    ctx = Context(runner=None, out_dir=tmp_path / "out", allowed_roots=(allowed.resolve(),))
    checked = allowed_clip(ctx, str(allowed / "shots" / "take.mp4"))
    (allowed / "shots").rename(allowed / "moved")
    (allowed / "shots").symlink_to(outside, target_is_directory=True)  # the swap, while the request waits
    try:
        for name in ("linked.mp4", "again.mp4"):  # (the second once the first's link is gone)
            checked.place(tmp_path / name)
            assert (tmp_path / name).read_bytes() == b"the allowed clip"
    finally:
        checked.close()
    with pytest.raises(RequestError, match="outside the folders"):  # a new request sees the swap and is refused
        allowed_clip(ctx, str(allowed / "shots" / "take.mp4"))


def test_the_default_output_folder_is_private_and_never_a_planted_link(tmp_path: Path) -> None:
    import os
    import stat

    from moodscore.bridge.server import private_folder
    from moodscore.models.errors import OutputError

    mine = private_folder(tmp_path / "mine")
    assert stat.S_IMODE(os.lstat(mine).st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert stat.S_IMODE(os.lstat(private_folder(loose)).st_mode) == 0o700  # tightened
    (tmp_path / "planted").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(OutputError, match="not a folder of this user"):
        private_folder(tmp_path / "planted")


def test_a_bridge_with_a_secret_serves_only_requests_that_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other users of the machine cannot have the bridge read the owner's videos: every request but ping must
    carry the secret, which `moodscore osc` reads from the owner's config (or MOODSCORE_BRIDGE_SECRET)."""
    import os
    import stat
    import subprocess
    import sys

    from moodscore.bridge.protocol import make_secret, read_secret

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MOODSCORE_BRIDGE_SECRET", raising=False)
    secret = make_secret()
    path = tmp_path / "config" / "moodscore" / "bridge-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and read_secret() == secret == make_secret()
    with one_torch_thread(), running_bridge(tmp_path / "out", secret=secret) as bridge, Peer() as peer:
        for rid, extra in (("n1", []), ("n2", ["secret", "guess"])):
            peer.send(bridge.address, "/moodscore/compose", rid, "quadrant", "Q1", "bars", 1, *extra)
            ((address, args),) = peer.receive(timeout=5)
            assert address == "/moodscore/error" and "needs its secret" in args[2]
        peer.send(bridge.address, "/moodscore/compose", "y1", "quadrant", "Q1", "bars", 1, "secret", secret)
        assert peer.until("y1")[-1][0] == "/moodscore/done"
        peer.send(bridge.address, "/moodscore/ping", "p1")
        assert peer.until("p1", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"
        host, port = bridge.address
        cli = [sys.executable, "-m", "moodscore.models.cli", "osc", "--host", host, "--port", str(port), "compose",
               "--quadrant", "Q2", "--bars", "1"]  # fmt: skip
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        ok = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120, check=False)
        assert ok.returncode == 0 and ok.stdout.rstrip().endswith("end"), ok.stdout[-300:]
        env["XDG_CONFIG_HOME"] = str(tmp_path / "someone-else")  # another user has no secret
        refused = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120, check=False)
        assert refused.returncode == 2 and "needs its secret" in refused.stdout


def test_without_allow_the_bridge_reads_the_media_folders_not_the_whole_home(tmp_path: Path) -> None:
    from moodscore.bridge.server import default_allowed

    assert default_allowed(tmp_path) == [tmp_path]  # nothing else there: the home itself
    for name in ("Videos", "Documents", ".ssh"):
        (tmp_path / name).mkdir()
    assert default_allowed(tmp_path) == [tmp_path / "Videos", tmp_path / "Documents"]


def test_a_job_over_the_time_limit_ends_with_an_error_and_the_bridge_serves_on(tmp_path: Path) -> None:
    with one_torch_thread(), running_bridge(tmp_path / "out", job_seconds=1e-9) as bridge, Peer() as peer:
        peer.send(bridge.address, "/moodscore/compose", "t1", "quadrant", "Q3", "bars", 8, "variations", 2)
        replies = peer.until("t1", 60)
        assert replies[-1][0] == "/moodscore/error" and "ran longer than" in replies[-1][1][2]
        assert not [p for p in (tmp_path / "out").rglob("*.mid")]  # nothing half-written
        peer.send(bridge.address, "/moodscore/ping", "p2")
        assert peer.until("p2", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"


def test_a_surround_clip_that_once_killed_the_bridge_is_scored_and_it_answers_on(tmp_path: Path) -> None:
    """One /moodscore/score of a clip with 7.1 audio killed the whole bridge (SIGSEGV in PyAV)."""
    from media_fixtures import surround_clip

    clips = tmp_path / "clips"
    clips.mkdir()
    clip = surround_clip(clips, "7.1")
    with one_torch_thread(), running_bridge(tmp_path / "out", allowed_roots=[clips]) as bridge, Peer() as peer:
        peer.send(bridge.address, "/moodscore/score", "s71", "path", str(clip), "tempo", 100.0)
        replies = peer.until("s71", 120)
        assert replies[-1][0] == "/moodscore/done", replies[-1]
        assert any(address == "/moodscore/timeline" for address, _ in replies)
        peer.send(bridge.address, "/moodscore/ping", "p3")
        assert peer.until("p3", 5, last=("/moodscore/pong",))[0][0] == "/moodscore/pong"
