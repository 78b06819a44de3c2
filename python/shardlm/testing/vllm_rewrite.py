"""Runs vLLM's own test files and examples against shardlm with only their imports and model ids changed.

    python -m shardlm.testing.vllm_rewrite VLLM_CHECKOUT [FILE ...] [--keep DIR] [-- PYTEST_ARGS]

Each FILE (a path inside the checkout; by default DEFAULT_FILES) is copied into a scratch folder and rewritten:
`from vllm... import` / `import vllm...` become the same imports from shardlm (`import vllm` becomes
`import shardlm as vllm`; the runners imported from vLLM's tests/conftest.py come from shardlm.testing.runners),
and string literals that are hub model ids ("org/name", model_map.is_model_id)
become the path of their local stand-in (model_map.resolve). Test files (test_*.py) then run under pytest
with shardlm.testing.vllm_conftest (vLLM's fixtures); examples run as scripts, from their folder (with the
example folder's utils.py beside them when they import it). A summary table ends the output; the exit status
is 0 when every file passed. Nothing is written into the checkout."""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from shardlm.testing import model_map

DEFAULT_FILES = (
    "examples/offline_inference/basic/basic.py",
    "examples/offline_inference/basic/generate.py",
    "examples/offline_inference/basic/chat.py",
    "tests/samplers/test_ranks.py",
    "tests/samplers/test_stop_reason.py",
    "tests/samplers/test_ignore_eos.py",
    "tests/samplers/test_non_finite_params.py",
    "tests/samplers/test_beam_search.py",
    "tests/v1/sample/test_sampling_params_e2e.py",
    "tests/entrypoints/llm/test_generate.py",
    "tests/entrypoints/llm/test_chat.py",
    "tests/entrypoints/llm/test_prompt_logprobs.py",
)

_FROM_IMPORT = re.compile(r"^(\s*from\s+)vllm(?=[\s.])", re.MULTILINE)
# vLLM's tests import their runner classes from the suite's conftest (`from tests.conftest import VllmRunner`,
# `from ..conftest import HfRunner`): shardlm.testing.runners has them.
_CONFTEST_IMPORT = re.compile(r"^(\s*from\s+)(?:tests|\.+)\.?conftest(?=\s+import)", re.MULTILINE)
_IMPORT = re.compile(r"^(\s*import\s+)vllm(\.[\w.]+)?(\s+as\s+\w+)?[ \t]*$", re.MULTILINE)
_STRING = re.compile(r"""(?P<q>["'])(?P<s>[\w.-]+/[\w.-]+)(?P=q)""")


def _import(match):
    head, sub, alias = match.group(1), match.group(2) or "", match.group(3)
    if alias:
        return f"{head}shardlm{sub}{alias}"
    if sub:  # `import vllm.x`: the code says vllm.x, so bind the name vllm to shardlm too
        return f"{head}shardlm{sub}; import shardlm as vllm"
    return f"{head}shardlm as vllm"


def rewrite_source(text, resolve=model_map.resolve):
    """-> (rewritten text, [(model id, stand-in path)])."""
    text = _FROM_IMPORT.sub(r"\1shardlm", text)
    text = _CONFTEST_IMPORT.sub(r"\1shardlm.testing.runners", text)
    text = _IMPORT.sub(_import, text)
    replaced = []

    def model(match):
        value = match.group("s")
        if not model_map.is_model_id(value):
            return match.group(0)
        path = resolve(value)
        replaced.append((value, path))
        return repr(str(path))

    return _STRING.sub(model, text), replaced


def _copy(checkout, rel, scratch):
    src = checkout / rel
    if not src.is_file():
        raise FileNotFoundError(f"{src} is not a file in the vLLM checkout")
    dst = scratch / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    text, replaced = rewrite_source(src.read_text())
    dst.write_text(text)
    if re.search(r"^\s*from\s+utils\s+import", text, re.MULTILINE) and (src.parent / "utils.py").is_file():
        helper, more = rewrite_source((src.parent / "utils.py").read_text())
        (dst.parent / "utils.py").write_text(helper)
        replaced += more
    return dst, replaced


def _summary_of(output):
    """pytest's last summary line ("3 passed, 1 failed in 2.0s"), or None."""
    for line in reversed(output.splitlines()):
        if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b", line) and " in " in line:
            return line.strip("= ").strip()
    return None


def run(checkout, files, scratch, pytest_args=(), timeout=1800):
    checkout = pathlib.Path(checkout).resolve()
    env = dict(os.environ)
    for var, rel in (("SHARDLM_VLLM_EXAMPLE_PROMPTS", "tests/prompts/example.txt"),
                     ("SHARDLM_VLLM_LONG_PROMPTS", "tests/prompts/summary.txt")):
        if (checkout / rel).is_file():
            env.setdefault(var, str(checkout / rel))
    (scratch / "pytest.ini").write_text("[pytest]\n")  # no outer configuration applies
    rows = []
    for rel in files:
        dst, replaced = _copy(checkout, rel, scratch)
        for model_id, path in replaced:
            print(f"{rel}: {model_id} -> {path}", flush=True)
        is_test = dst.name.startswith("test_")
        if is_test:
            cmd = [sys.executable, "-m", "pytest", "-p", "shardlm.testing.vllm_conftest", "-p", "no:cacheprovider",
                   "-c", str(scratch / "pytest.ini"), "--rootdir", str(scratch), "--import-mode=importlib", "-q",
                   "-rfEs", str(dst), *pytest_args]
            cwd = scratch
        else:
            cmd, cwd = [sys.executable, dst.name], dst.parent
        print(f"\n=== {rel}: {' '.join(cmd)}", flush=True)
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout)
            output, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as e:
            output, code = (e.stdout or "") if isinstance(e.stdout, str) else "", "timeout"
        print(output, flush=True)
        summary = _summary_of(output) if is_test else None
        rows.append((rel, "pytest" if is_test else "example", code, summary or ("exit " + str(code))))
    print("\n| file | run as | result |\n|---|---|---|")
    for rel, kind, code, summary in rows:
        print(f"| `{rel}` | {kind} | {'PASS' if code == 0 else 'FAIL'}: {summary} |")
    return 0 if all(code == 0 for _, _, code, _ in rows) else 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="run_vllm_tests", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="a vLLM source checkout (its tests/ and examples/ are read, not changed)")
    parser.add_argument("files", nargs="*", help="paths inside the checkout (default: the issue #13 list)")
    parser.add_argument("--keep", help="write the rewritten files here and keep them (default: a temporary folder)")
    args = parser.parse_args(argv)
    files = args.files or list(DEFAULT_FILES)
    if args.keep:
        scratch = pathlib.Path(args.keep).resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        return run(args.checkout, files, scratch, pytest_args)
    with tempfile.TemporaryDirectory(prefix="shardlm-vllm-tests.") as tmp:
        return run(args.checkout, files, pathlib.Path(tmp), pytest_args)


if __name__ == "__main__":
    sys.exit(main())
