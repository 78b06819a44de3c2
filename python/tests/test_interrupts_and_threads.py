"""generate() releases the GIL while the engine steps, and Ctrl-C between steps aborts the requests and
raises KeyboardInterrupt, leaving the engine usable."""

import subprocess
import textwrap
import threading
import time

from shardlm import SamplingParams
from conftest import PYTHON, subprocess_env

LONG = SamplingParams(temperature=0, max_tokens=400, ignore_eos=True)


def test_other_threads_run_while_the_engine_steps(llm):
    done = threading.Event()
    result = {}

    def work():
        result["outs"] = llm.generate(["Hello"] * 8, LONG, use_tqdm=False)
        done.set()

    t = threading.Thread(target=work)
    start = time.monotonic()
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.0005)
    t.join()
    elapsed = time.monotonic() - start
    assert len(result["outs"]) == 8 and len(result["outs"][0].outputs[0].token_ids) == 400
    # With the GIL held through the engine's loop this thread would not run until generate() returned.
    assert elapsed > 0.05 and ticks > 20, (elapsed, ticks)


def test_ctrl_c_aborts_and_the_engine_stays_usable(tiny_opt):
    script = textwrap.dedent(
        f"""
        import os, signal, threading, time
        from shardlm import LLM, SamplingParams
        llm = LLM({str(tiny_opt)!r})
        greedy = SamplingParams(temperature=0, max_tokens=5)
        before = llm.generate("Hello, my name is", greedy, use_tqdm=False)[0].outputs[0].token_ids
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            # Enough work (tiny-opt caps each at 512 positions) that the 0.3 s timer fires mid-generation even on
            # a loaded machine.
            llm.generate(["Hello"] * 512, SamplingParams(temperature=0, max_tokens=2000, ignore_eos=True), use_tqdm=False)
            print("NOT INTERRUPTED")
        except KeyboardInterrupt:
            print("INTERRUPTED after %.1f s" % (time.monotonic() - start))
        after = llm.generate("Hello, my name is", greedy, use_tqdm=False)[0].outputs[0].token_ids
        print("SAME" if after == before else "DIFFERENT", before, after)
        """
    )
    proc = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert "INTERRUPTED after" in proc.stdout, proc.stdout + proc.stderr
    assert "SAME" in proc.stdout, proc.stdout
