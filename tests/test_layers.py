"""The core's layers: each stage imports only what sits below it (or beside it, where stated), so a newcomer can read
the code from the bottom up and no change high up can break something low down.

    0  errors < defaults < affect < tempo < keys < types    the vocabulary, the defaults and the data contracts
    1  files                                     atomic outputs, job folders, checkpoints
    2  media, faces, voices, fusion, music       the stages, each on its own (faces may use fusion's windows)
    3  analysis                                  drives faces, voices and fusion over a clip
    4  engine                                    holds the models
    5  jobs                                      files and options in, an output folder out
    6  cli, the package's public API

Imports inside ``if TYPE_CHECKING:`` blocks are annotations only and do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "models"

LAYERS: dict[str, float] = {
    "errors": 0.0, "defaults": 0.05, "commands": 0.06, "affect": 0.1, "tempo": 0.2, "keys": 0.3, "types": 0.4,
    "files": 1,
    "media": 2, "faces": 2, "voices": 2, "fusion": 2, "music": 2,
    "analysis": 3,
    "engine": 4,
    "jobs": 5,
    "cli": 6, "__init__": 6,
    "train": 7, "weights": 0.0, "examples": 0.0,
}  # fmt: skip
# stages that may use a peer of the same layer (stated, not accidental)
PEERS: dict[str, set[str]] = {"faces": {"fusion"}}


def _unit(module: str) -> str:
    """``moodscore.models.faces.tracker`` -> ``faces``; ``models`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module.removeprefix("moodscore.")
            if module == "models":
                out += [(node.lineno, f"models.{a.name}") for a in node.names]
            elif module.split(".")[0] == "models":
                out.append((node.lineno, module))
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("moodscore.") for a in node.names]
            out += [(node.lineno, n) for n in names if n.split(".")[0] == "models"]
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if "train" not in p.relative_to(ROOT).parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_upward(path: Path) -> None:
    rel = path.relative_to(ROOT)
    unit = rel.parts[0].removesuffix(".py")
    level = LAYERS[unit]
    bad = []
    for line, target in _runtime_imports(path):
        other = _unit(target)
        if other == unit or other not in LAYERS:
            continue
        if LAYERS[other] > level or (LAYERS[other] == level and other not in PEERS.get(unit, set())):
            bad.append(f"{rel}:{line} imports {target} (layer {LAYERS[other]} from layer {level})")
    assert not bad, "\n".join(bad)


FRONT_ENDS = ("web", "bots", "bridge")


def test_the_core_names_no_front_end() -> None:
    """The front ends register their commands (moodscore.models.commands); the core imports none of them."""
    bad = []
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if isinstance(node, ast.Import) else []
            )  # fmt: skip
            if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "web.app:main", "moodscore.bots"
                v = node.value
                names = [v.partition(":")[0]] if re.fullmatch(r"[a-z_]+([.:][A-Za-z_]+)+", v) else []
            names = [n.removeprefix("moodscore.") for n in names]
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in FRONT_ENDS]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_front_ends_use_only_the_public_api(front_end: str) -> None:
    """web/, bots/ and bridge/ import from ``moodscore.models`` (its stated public API), never from a module inside
    it."""
    import moodscore.models as models

    bad = []
    for path in (ROOT.parent / front_end).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and module.startswith(("models", "moodscore.models"))
            ):
                if module != "moodscore.models":
                    bad.append(f"{path.name}:{node.lineno} imports from {module}")
                bad += [f"{path.name}:{node.lineno}: {a.name} is not public" for a in node.names
                        if module == "moodscore.models" and a.name not in models.__all__]  # fmt: skip
            elif isinstance(node, ast.Import) and any(
                a.name.startswith(("models.", "moodscore.models.")) for a in node.names
            ):
                bad.append(f"{path.name}:{node.lineno} imports a module inside models")
    assert not bad, "\n".join(bad)


def test_the_code_loads_under_its_installed_names_only() -> None:
    """Every import names the project's namespace (moodscore.models, moodscore.web, ...): no file is loaded a second
    time under a bare top-level name (models, web, bots, bridge), which would make two copies of its classes."""
    import subprocess
    import sys

    code = (
        "import sys, moodscore.models.cli, moodscore.models.jobs.work, moodscore.models.analysis.pipeline, "
        "moodscore.web.ui, moodscore.bots.app, moodscore.bridge.server, moodscore.bridge.client\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('models', 'web', 'bots', 'bridge')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]", r.stdout


def test_the_public_api_holds_only_what_is_used() -> None:
    """Every public name is imported by a front end or shown in the README's Python examples."""
    import moodscore.models as models

    used: set[str] = set()
    for front_end in FRONT_ENDS:
        for path in (ROOT.parent / front_end).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == "moodscore.models":
                    used |= {a.name for a in node.names}
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    for line in re.findall(r"from moodscore\.models import ([^\n]+)", readme):
        used |= {n.strip() for n in line.split(",")}
    assert set(models.__all__) == used, (sorted(set(models.__all__) - used), sorted(used - set(models.__all__)))
