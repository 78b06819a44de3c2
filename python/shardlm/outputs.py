"""What LLM.generate returns, with vLLM's names and reprs: RequestOutput (one per prompt) holding
CompletionOutput (one per sample), whose logprobs are lists of {token_id: Logprob}."""

_UNSET = object()


class Logprob:
    """The log-probability of one token at one position, as vllm.sequence.Logprob.

    rank is the token's 1-based rank in the vocabulary by probability: the top-N tokens requested with
    SamplingParams.logprobs / prompt_logprobs are ranked 1..N; the sampled (or prompt) token has its true rank,
    the number of tokens at least as probable as it (vLLM's). decoded_token is that token's text alone,
    decoded on first access.
    """

    __slots__ = ("logprob", "rank", "_decoded_token", "_decode")

    def __init__(self, logprob, rank=None, decoded_token=None, *, _decode=None):
        self.logprob = logprob
        self.rank = rank
        self._decoded_token = _UNSET if _decode is not None and decoded_token is None else decoded_token
        self._decode = _decode

    @property
    def decoded_token(self):
        if self._decoded_token is _UNSET:
            self._decoded_token = self._decode()
        return self._decoded_token

    @decoded_token.setter
    def decoded_token(self, value):
        self._decoded_token = value

    def __eq__(self, other):
        if not isinstance(other, Logprob):
            return NotImplemented
        return (self.logprob, self.rank, self.decoded_token) == (other.logprob, other.rank, other.decoded_token)

    __hash__ = None

    def __reduce__(self):  # pickles with the text resolved (the decoder is not picklable)
        return (Logprob, (self.logprob, self.rank, self.decoded_token))

    def __repr__(self):
        return f"Logprob(logprob={self.logprob}, rank={self.rank}, decoded_token={self.decoded_token!r})"


class CompletionOutput:
    """One generated sequence: vllm.outputs.CompletionOutput.

    cumulative_logprob and logprobs are None unless SamplingParams.logprobs was set. finish_reason is
    "stop" (EOS, a stop string or a stop token), "length" (max_tokens or max_model_len) or "abort";
    stop_reason is the stop string or stop token id that ended it, None for EOS or length.
    """

    __slots__ = ("index", "text", "token_ids", "cumulative_logprob", "logprobs", "finish_reason", "stop_reason")

    def __init__(self, index, text, token_ids, cumulative_logprob, logprobs, finish_reason=None, stop_reason=None):
        self.index = index
        self.text = text
        self.token_ids = token_ids
        self.cumulative_logprob = cumulative_logprob
        self.logprobs = logprobs
        self.finish_reason = finish_reason
        self.stop_reason = stop_reason

    def finished(self):
        return self.finish_reason is not None

    def __eq__(self, other):
        if not isinstance(other, CompletionOutput):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None

    def __reduce__(self):
        return (CompletionOutput, tuple(getattr(self, s) for s in self.__slots__))

    def __repr__(self):
        # vLLM prints finish_reason without quotes.
        return (
            f"CompletionOutput(index={self.index}, text={self.text!r}, token_ids={self.token_ids}, "
            f"cumulative_logprob={self.cumulative_logprob}, logprobs={self.logprobs}, "
            f"finish_reason={self.finish_reason}, stop_reason={self.stop_reason})"
        )


class RequestMetrics:
    """When a request's stages happened (vLLM's RequestMetrics): times in seconds since the epoch, as
    time.time(), from a clock that never goes backwards; 0.0 for a stage that never happened.
    arrival_time <= first_scheduled_time <= first_token_time <= last_token_time <= finished_time.
    time_in_queue = first_scheduled_time - arrival_time; first_token_latency = first_token_time - arrival_time;
    num_generation_tokens: tokens generated over all the request's sequences."""

    __slots__ = ("arrival_time", "first_scheduled_time", "first_token_time", "last_token_time", "finished_time",
                 "time_in_queue", "first_token_latency", "num_generation_tokens")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name, 0))

    def __reduce__(self):
        return (_request_metrics, ({s: getattr(self, s) for s in self.__slots__},))

    def __repr__(self):
        return "RequestMetrics(" + ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__) + ")"


def _request_metrics(fields):
    return RequestMetrics(**fields)


class RequestOutput:
    """The result of one prompt: vllm.outputs.RequestOutput.

    prompt is None when the prompt was given as token ids. prompt_logprobs (with SamplingParams.prompt_logprobs)
    has one entry per prompt token: None for the first, then {token_id: Logprob} holding the prompt token and
    the top N. num_cached_tokens: prompt tokens whose KV came from the prefix cache (requests asking for prompt
    logprobs compute every token, as in vLLM). metrics: a RequestMetrics (timings differ from run to run, so == ignores them).
    """

    __slots__ = ("request_id", "prompt", "prompt_token_ids", "prompt_logprobs", "outputs", "finished",
                 "num_cached_tokens", "metrics")
    _COMPARED = __slots__[:-1]

    def __init__(self, request_id, prompt, prompt_token_ids, prompt_logprobs, outputs, finished, num_cached_tokens=0,
                 metrics=None):
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.prompt_logprobs = prompt_logprobs
        self.outputs = outputs
        self.finished = finished
        self.num_cached_tokens = num_cached_tokens
        self.metrics = metrics

    def __eq__(self, other):
        if not isinstance(other, RequestOutput):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self._COMPARED)

    __hash__ = None

    def __reduce__(self):
        return (RequestOutput, tuple(getattr(self, s) for s in self.__slots__))

    def __repr__(self):
        return (
            f"RequestOutput(request_id={self.request_id}, prompt={self.prompt!r}, "
            f"prompt_token_ids={self.prompt_token_ids}, prompt_logprobs={self.prompt_logprobs}, "
            f"outputs={self.outputs}, finished={self.finished}, num_cached_tokens={self.num_cached_tokens})"
        )


def _logprob_maps(raw_maps, ranks, tokens, num_top, decode_one):
    """Native [{id: logprob}] -> [{id: Logprob}], ordered by probability (decode_one: a token's text, or None to
    leave decoded_token None). Each map holds the top `num_top`
    tokens (-1: all) plus tokens[i] (the sampled or prompt token) when it is not among them; the top ones are
    ranked 1..N, an extra token gets its true rank ranks[i]."""
    out = []
    for step, rank, token in zip(raw_maps, ranks, tokens):
        extra = token if 0 <= num_top < len(step) else None
        # By probability; ties keep the lower id first (the maps come ordered by id), as the engine ranks them.
        ordered = sorted(step.items(), key=lambda kv: -kv[1])
        entry, position = {}, 0
        for token_id, lp in ordered:
            if token_id == extra:
                r = rank
            else:
                position += 1
                r = position
            entry[token_id] = Logprob(lp, r, _decode=None if decode_one is None else _bind(decode_one, token_id))
        out.append(entry)
    return out


def _bind(decode_one, token_id):
    return lambda: decode_one(token_id)


def from_native(raw, prompt_was_ids, params, decode_one):
    """Converts the engine's RequestOutput for a request made with SamplingParams `params`. With
    detokenize=False, Logprob.decoded_token is None (vLLM's)."""
    if not params.detokenize:
        decode_one = None
    completions = []
    for c in raw.outputs:
        if c.stop_reason_str is not None:
            stop_reason = c.stop_reason_str
        else:
            stop_reason = c.stop_reason_token
        want = params.logprobs is not None
        completions.append(
            CompletionOutput(
                index=c.index,
                text=c.text_bytes.decode("utf-8", errors="replace"),
                token_ids=list(c.token_ids),
                cumulative_logprob=c.cumulative_logprob if want else None,
                logprobs=_logprob_maps(c.logprobs, c.sampled_token_ranks, c.token_ids, params.logprobs, decode_one)
                if want and c.logprobs is not None
                else None,
                finish_reason=c.finish_reason or None,
                stop_reason=stop_reason,
            )
        )
    prompt_logprobs = None
    if raw.prompt_logprobs is not None:
        maps = _logprob_maps(raw.prompt_logprobs[1:], raw.prompt_token_ranks[1:], raw.prompt_token_ids[1:],
                             params.prompt_logprobs, decode_one)
        prompt_logprobs = [None] + maps
    return RequestOutput(
        request_id=str(raw.request_id),  # the engine's integer id, a string as vLLM's
        prompt=None if prompt_was_ids else raw.prompt,
        prompt_token_ids=list(raw.prompt_token_ids),
        prompt_logprobs=prompt_logprobs,
        outputs=completions,
        finished=raw.finished,
        num_cached_tokens=raw.num_cached_tokens,
        metrics=RequestMetrics(**{name: getattr(raw.metrics, name) for name in RequestMetrics.__slots__}),
    )
