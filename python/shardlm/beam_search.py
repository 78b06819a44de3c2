"""LLM.beam_search, as vLLM builds it on top of generate: every step asks the engine for one token of every live
beam with its 2 * beam_width most probable continuations (logprobs), extends each beam by each of them, and keeps
the beam_width best by cumulative log-probability. A continuation by EOS finishes its beam (unless ignore_eos).
At the end the finished and the live beams are ranked together by cum_logprob / len(tokens) ** length_penalty.
Beams share their prompt and earlier tokens, so the prefix cache computes each step's new token only."""

from shardlm.sampling_params import SamplingParams


class BeamSearchSequence:
    """One beam: tokens (the prompt's, then the generated ones), one {token id: Logprob} per generated token
    (the candidates it was chosen from), cum_logprob (the generated tokens' summed log-probabilities), text (the
    tokens decoded; set on the returned beams), finish_reason ("stop" at EOS, "length" otherwise) and
    stop_reason (the EOS id when it stopped there)."""

    __slots__ = ("tokens", "logprobs", "cum_logprob", "text", "finish_reason", "stop_reason")

    def __init__(self, tokens, logprobs, cum_logprob=0.0, text=None, finish_reason=None, stop_reason=None):
        self.tokens = tokens
        self.logprobs = logprobs
        self.cum_logprob = cum_logprob
        self.text = text
        self.finish_reason = finish_reason
        self.stop_reason = stop_reason

    def __repr__(self):
        return (f"BeamSearchSequence(tokens={self.tokens}, cum_logprob={self.cum_logprob}, text={self.text!r}, "
                f"finish_reason={self.finish_reason!r}, stop_reason={self.stop_reason!r})")


class BeamSearchOutput:
    """The result of one prompt: its best beams, best first."""

    __slots__ = ("sequences",)

    def __init__(self, sequences):
        self.sequences = sequences

    def __repr__(self):
        return f"BeamSearchOutput(sequences={self.sequences})"


def beam_search_score(tokens, cum_logprob, eos_token_id, length_penalty):
    """vLLM's ranking of beams: the log-probability per token (to the power length_penalty), a final EOS not
    counted."""
    length = len(tokens) - (1 if tokens and tokens[-1] == eos_token_id else 0)
    return cum_logprob / (length ** length_penalty)


def run_beam_search(llm, prompt_token_ids, params, use_tqdm):
    """prompt_token_ids: one list per prompt. Returns one BeamSearchOutput per prompt."""
    tokenizer = llm.get_tokenizer()
    eos = tokenizer.eos_token_id
    width = params.beam_width
    step_params = SamplingParams(logprobs=2 * width, max_tokens=1, temperature=params.temperature)
    max_len = llm._engine.max_model_len

    def score(beam):
        return beam_search_score(beam.tokens, beam.cum_logprob, eos, params.length_penalty)

    live = [[BeamSearchSequence(list(ids), [])] for ids in prompt_token_ids]
    done = [[] for _ in prompt_token_ids]
    for _ in range(params.max_tokens):
        for i, beams in enumerate(live):  # a beam at the model's length limit cannot grow
            for b in beams:
                if len(b.tokens) >= max_len:
                    b.finish_reason = "length"
                    done[i].append(b)
            live[i] = [b for b in beams if len(b.tokens) < max_len]
        batch = [b for beams in live for b in beams]
        if not batch:
            break
        outputs = llm.generate([{"prompt_token_ids": b.tokens} for b in batch], step_params, use_tqdm=use_tqdm)
        position = 0
        for i, beams in enumerate(live):
            candidates = []
            for beam in beams:
                top = outputs[position].outputs[0].logprobs[0]
                position += 1
                for token, lp in top.items():
                    cum = beam.cum_logprob + lp.logprob
                    history = beam.logprobs + [top]
                    if token == eos and not params.ignore_eos:
                        kept = beam.tokens + [token] if params.include_stop_str_in_output else list(beam.tokens)
                        done[i].append(BeamSearchSequence(kept, history, cum, finish_reason="stop", stop_reason=eos))
                    else:
                        candidates.append(BeamSearchSequence(beam.tokens + [token], history, cum))
            candidates.sort(key=score, reverse=True)
            live[i] = candidates[:width]
    results = []
    for i, beams in enumerate(live):
        for b in beams:
            b.finish_reason = b.finish_reason or "length"
        ranked = sorted(done[i] + beams, key=score, reverse=True)[:width]
        for b in ranked:
            b.text = tokenizer.decode(b.tokens)
        results.append(BeamSearchOutput(ranked))
    return results


__all__ = ["BeamSearchOutput", "BeamSearchSequence", "beam_search_score", "run_beam_search"]
