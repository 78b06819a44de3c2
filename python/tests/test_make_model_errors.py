"""`shardlm make-model` refuses sizes before writing anything: an override that is not positive or past its
limit names its flag (negative values used to be ignored silently); weights past 64 GiB need --force (a typo in
--hidden-size used to fill the disk at 2 GB a minute); and the free disk space of the output folder is checked
first, --force or not."""

import json
import shutil
import subprocess

import pytest

from conftest import require_binary


def _make_model(out, *args, timeout=120):
    try:
        return subprocess.run([str(require_binary("shardlm")), "make-model", "--out", str(out), *map(str, args)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    finally:
        # A make-model that did start writing a huge checkpoint must not leave it behind.
        if out.exists() and sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) > (1 << 30):
            shutil.rmtree(out, ignore_errors=True)


def _assert_refused(proc, *parts):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    for part in parts:
        assert part in proc.stderr, proc.stderr


@pytest.mark.parametrize("flag", ["--hidden-size", "--num-layers", "--num-heads", "--num-kv-heads", "--ffn-dim",
                                  "--vocab-size", "--max-position-embeddings"])
@pytest.mark.parametrize("value", ["-5", "0"])
def test_non_positive_overrides_name_the_flag(tmp_path, flag, value):
    out = tmp_path / "m"
    proc = _make_model(out, "--preset", "llama-tiny", flag, value)
    _assert_refused(proc, f"{flag} must be a positive integer, got {value}")
    assert not out.exists()


def test_overrides_past_their_limits_name_the_flag(tmp_path):
    out = tmp_path / "m"
    _assert_refused(_make_model(out, "--preset", "llama-tiny", "--num-layers", "100000"),
                    "--num-layers 100000 is larger than 4096")
    _assert_refused(_make_model(out, "--preset", "llama-tiny", "--hidden-size", "3000000000"),
                    "--hidden-size 3000000000 is larger than 2147483647")
    _assert_refused(_make_model(out, "--preset", "llama-tiny", "--vocab-size", "100000000"),
                    "--vocab-size 100000000 is larger than 4194304")
    assert not out.exists()


def test_weights_past_the_bound_need_force(tmp_path):
    out = tmp_path / "m"
    proc = _make_model(out, "--preset", "llama-tiny", "--hidden-size", "1000000000", timeout=60)
    _assert_refused(proc, "make-model: the weights would take", "more than the 64.00 GiB written without --force",
                    "--force")
    assert not out.exists()  # refused before the folder is made


def test_force_still_checks_free_disk_space(tmp_path):
    # ~370 TB of weights: past any disk, so --force is refused by the free-space check, before writing.
    out = tmp_path / "m"
    proc = _make_model(out, "--preset", "llama-tiny", "--hidden-size", "2000000", "--ffn-dim", "5000000",
                       "--num-layers", "4", "--force", timeout=60)
    _assert_refused(proc, f"not enough free disk space in '{out}'", "the checkpoint needs", "are available")
    assert not (out / "model.safetensors").exists()
    assert not (out / "config.json").exists()


def test_shapes_too_large_for_64_bits_are_refused(tmp_path):
    out = tmp_path / "m"
    proc = _make_model(out, "--preset", "llama-tiny", "--hidden-size", "2000000000", "--num-heads", "1",
                       "--num-kv-heads", "1", "--ffn-dim", "2000000000", "--num-layers", "4096", "--force")
    _assert_refused(proc, "would take more than 2^64 bytes")


def test_valid_overrides_still_write_the_model(tmp_path):
    out = tmp_path / "m"
    proc = _make_model(out, "--preset", "llama-tiny", "--num-layers", "1", "--hidden-size", "32", "--vocab-size",
                       "400", "--max-position-embeddings", "64")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (1, 32, 400)
    assert (out / "model.safetensors").stat().st_size > 400 * 32 * 2
