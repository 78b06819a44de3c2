"""The progress bar of LLM.generate: tqdm when it is importable (or the callable given as use_tqdm), else the
engine's own bar on stderr (drawn only when stderr is a terminal), else none."""

import time


def make_progress(use_tqdm, total):
    """Returns (callback for the engine or None, whether to draw the native bar, close function or None)."""
    if not use_tqdm or total == 0:
        return None, False, None
    factory = use_tqdm if callable(use_tqdm) else None
    if factory is None:
        try:
            from tqdm import tqdm as factory
        except ImportError:
            return None, True, None
    bar = factory(
        total=total,
        desc="Processed prompts",
        dynamic_ncols=True,
        postfix="est. speed input: 0.00 toks/s, output: 0.00 toks/s",
    )
    start = time.monotonic()
    shown = [0]

    def on_step(num_finished, input_tokens, output_tokens):
        if num_finished == shown[0]:
            return
        elapsed = max(time.monotonic() - start, 1e-9)
        bar.postfix = f"est. speed input: {input_tokens / elapsed:.2f} toks/s, output: {output_tokens / elapsed:.2f} toks/s"
        bar.update(num_finished - shown[0])
        shown[0] = num_finished

    return on_step, False, bar.close
