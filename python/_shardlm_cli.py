"""The `shardlm` and `shardlm-run` commands of an installed wheel ([project.scripts] in pyproject.toml): each
replaces this Python process with the program of that name bundled in the package (shardlm/bin/), so the
arguments, exit status and signals are the program's own. A module outside the shardlm package, so that starting
a command imports neither shardlm nor torch.
"""

import importlib.util
import os
import sys


def _exec(name):
    spec = importlib.util.find_spec("shardlm")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name}: the shardlm package is not installed in {sys.prefix}")
    program = os.path.join(list(spec.submodule_search_locations)[0], "bin", name)
    if not os.access(program, os.X_OK):
        sys.exit(f"{name}: {program} is missing or not executable; reinstall shardlm (pip install --force-reinstall .)")
    os.execv(program, [name, *sys.argv[1:]])


def shardlm():
    _exec("shardlm")


def shardlm_run():
    _exec("shardlm-run")
