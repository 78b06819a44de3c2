"""vLLM's ``python -m vllm.entrypoints.openai.api_server --model M [flags]`` for shardlm: the server is native
(``shardlm serve``, C++), so this module replaces itself with that program, passing every flag through; the
flags are ``shardlm serve``'s, which take vLLM's names (``--model``, ``--host``, ``--port``, ``--api-key``,
``--served-model-name``, ``--tensor-parallel-size``, ``--max-num-seqs``, ...)."""

import os
import pathlib
import shutil
import sys


def find_server_binary():
    """The ``shardlm`` program: beside this package in a build tree (build/bin next to build/python), else on
    PATH."""
    here = pathlib.Path(__file__).resolve()
    candidate = here.parents[4] / "bin" / "shardlm"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("shardlm")
    if found:
        return found
    raise SystemExit("shardlm.entrypoints.openai.api_server: the 'shardlm' program was found neither in the build "
                     f"tree ({candidate}) nor on PATH; build it (scripts/build.sh) or add it to PATH")


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    binary = find_server_binary()
    os.execv(binary, [binary, "serve", *args])


if __name__ == "__main__":
    main()
