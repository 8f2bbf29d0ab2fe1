"""Commands the front ends add to ``moodscore``: each front-end package registers its own under the
``moodscore.commands`` entry points (pyproject.toml), so the core's command line names none of them.

A registered object is a :class:`Command`: a line of help and the ``module:function`` that takes the command's
arguments and returns an exit code. Nothing is imported until the command runs, so ``moodscore --help`` stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

GROUP = "moodscore.commands"


@dataclass(frozen=True)
class Command:
    help: str
    main: str  # "module:function", called with the arguments after the command's name
    needs: tuple[tuple[str, str], ...] = ()  # (module, extra): a library the command needs and the extra that has it

    def run(self, argv: Sequence[str]) -> int:
        import importlib.util
        import sys

        for module_name, extra in self.needs:
            if importlib.util.find_spec(module_name) is None:
                print(
                    f"moodscore: error: this command needs {module_name}, which is not installed; "
                    f"pip install 'moodscore[{extra}]'",
                    file=sys.stderr,
                )
                return 2
        module, _, function = self.main.partition(":")
        return int(getattr(importlib.import_module(module), function)(list(argv)))


@functools.cache
def registered() -> dict[str, Command]:
    """The commands installed front ends registered, by name (a broken registration is skipped, not fatal)."""
    from importlib.metadata import entry_points

    out: dict[str, Command] = {}
    for ep in entry_points(group=GROUP):
        try:
            command = ep.load()
        except Exception:  # a front end whose package is gone must not break the other commands
            continue
        if isinstance(command, Command):
            out[ep.name] = command
    return dict(sorted(out.items()))
