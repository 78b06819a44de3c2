"""LLM: vLLM's offline entry point on shardlm's engine. Under an external launcher (torchrun, mpirun, srun,
shardlm-run) every process builds the same LLM with tensor_parallel_size = world size; each loads its shard
and every rank returns the same outputs."""

import functools
import types

from shardlm import _checks, _torch
from shardlm import metrics as _metrics
from shardlm._native import native
from shardlm._progress import make_progress
from shardlm.beam_search import run_beam_search
from shardlm.engine_args import FIELD_NAMES as ENGINE_FIELD_NAMES, engine_args_to_native
from shardlm.distributed import parallel_state
from shardlm.exceptions import VLLMValidationError
from shardlm.model import Model
from shardlm.outputs import from_native
from shardlm.sampling_params import BeamSearchParams, SamplingParams
from shardlm.tokenizer import Tokenizer
from shardlm.worker import Worker, vllm_config

_OWNER = "LLM"

# vLLM keywords that are accepted and change nothing here: shardlm never runs model code from the
# checkpoint, logs no statistics, has no custom all-reduce, no swap space (preempted requests are recomputed),
# no mixture-of-experts models to spread over experts, and schedules each step after the last one's outputs
# (async_scheduling overlaps them in vLLM without changing outputs).
_NO_EFFECT_KWARGS = ("trust_remote_code", "disable_log_stats", "disable_custom_all_reduce", "swap_space",
                     "enable_expert_parallel", "async_scheduling")


class LLM:
    """An engine for offline generation: vllm.LLM's keywords and defaults.

    Keywords shardlm does not support raise ValueError naming them; values the engine rejects raise ValueError; a model
    folder that cannot be loaded raises shardlm.EngineError (a RuntimeError) naming the file and field.

    enforce_eager=True runs every step eagerly; by default decode steps on CUDA replay CUDA graphs.
    shardlm extensions: enable_chunked_prefill (vLLM's too), num_threads (CPU threads per rank; default
    cores / local ranks), distributed_timeout_s (rendezvous and collective timeout, default 60).
    data_parallel_size: replicas under the launcher (world size = data_parallel_size * tensor_parallel_size;
    a world size that is a multiple of tensor_parallel_size implies it). enable_sleep_mode: sleep()/wake_up().
    quantization="fp8" quantises the linear layers to FP8 at load (vLLM's); FP8 checkpoints (quantization_config
    fp8 or compressed-tensors) load as FP8 without it. scheduling_policy: "fcfs" (arrival order) or "priority"
    (generate's priority= orders the waiting requests, lower first, and picks which to preempt; vLLM's).
    Accepted with no effect: trust_remote_code, disable_log_stats, disable_custom_all_reduce, swap_space,
    enable_expert_parallel, async_scheduling; pipeline_parallel_size must be 1.

    With PyTorch installed, torch.distributed is initialised over the launcher's ranks unless the program did
    it first, and shardlm.distributed's groups are torch ProcessGroups.
    """

    def __init__(
        self,
        model,
        *,
        tokenizer=None,
        tensor_parallel_size=1,
        dtype="auto",
        seed=0,
        max_model_len=None,
        gpu_memory_utilization=0.9,
        distributed_executor_backend=None,
        enable_prefix_caching=True,
        block_size=16,
        max_num_batched_tokens=None,
        max_num_seqs=None,
        kv_cache_memory_bytes=None,
        device="auto",
        enable_chunked_prefill=None,
        num_threads=None,
        distributed_timeout_s=None,
        enforce_eager=False,
        data_parallel_size=1,
        enable_sleep_mode=False,
        max_logprobs=20,
        generation_config="auto",
        quantization=None,
        scheduling_policy="fcfs",
        **kwargs,
    ):
        for key, value in kwargs.items():
            if key == "pipeline_parallel_size":
                if _checks.as_int(_OWNER, key, value) != 1:
                    raise ValueError(f"{_OWNER}: pipeline_parallel_size must be 1 (shardlm has tensor parallelism only), got {value}")
            elif key not in _NO_EFFECT_KWARGS:
                raise ValueError(f"{_OWNER}: the keyword argument {key!r} is not supported by shardlm")

        given = locals()
        a = engine_args_to_native({name: given[name] for name in ENGINE_FIELD_NAMES})

        # torch.distributed first where the engine must join a store torch hosts (mpirun/srun); the engine's
        # own rendezvous (with its timeouts and rank-fault messages) before any torch group is created.
        launch = native.launch_env()
        store = None
        if _torch.torch is not None:
            from shardlm.distributed import torch_groups

            store = torch_groups.prepare_store(launch)
        self._engine = native.Engine(a)
        # tensor_parallel_size > 1 without a launcher: the engine started the other ranks itself (vLLM's "mp"
        # executor) as native processes; this process is rank 0 and has no process groups of its own to offer.
        self._self_launched = self._engine.self_launched
        if not self._self_launched:
            if _torch.torch is not None:
                torch_groups.init_default_group(launch, self._engine.device, store)
            parallel_state._install(self._engine, launch)
        self._tokenizer = Tokenizer(self._engine)
        self._model = Model(self._engine)
        # vLLM's path to the model (its torchrun example's tip 3) leads to the same Model, through the worker
        # that collective_rpc calls.
        self._worker = Worker(self, self._engine, self._model, launch)
        self.llm_engine = types.SimpleNamespace(
            model_executor=types.SimpleNamespace(
                driver_worker=types.SimpleNamespace(worker=self._worker, model_runner=self._worker.model_runner)),
            get_tokenizer=self.get_tokenizer,
            vllm_config=vllm_config(self, self._engine, a),
            collective_rpc=self.collective_rpc,
            reset_prefix_cache=self.reset_prefix_cache,
        )

    def _require_launched_ranks(self, what):
        if self._self_launched:
            raise RuntimeError(
                f"{what} needs this process to be one of the engine's ranks with its own shard: this LLM started its "
                "other tensor-parallel ranks itself (tensor_parallel_size > 1 without a launcher), as native processes "
                "that run only generate/sleep/wake_up/reset_prefix_cache. Start the ranks with torchrun or "
                "shardlm-run (distributed_executor_backend='external_launcher') to use it.")

    @property
    def model(self) -> Model:
        """This rank's shard of the model: named_parameters(), num_parameters()."""
        self._require_launched_ranks("LLM.model")
        return self._model

    def collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        """Runs `method` on this rank's worker and returns [its result] (vLLM under the external launcher: every
        rank calls collective_rpc itself and gets its own worker's result). `method` is the name of a Worker
        method (get_model, load_weights, reload_weights, sleep, wake_up, ...) or a callable that receives the
        worker as its first argument. `timeout` is accepted for vLLM's signature; the call runs in this process."""
        self._require_launched_ranks("collective_rpc")
        if isinstance(method, str):
            fn = getattr(self._worker, method, None)
            if fn is None or method.startswith("_"):
                raise AttributeError(f"collective_rpc: the worker has no method {method!r}")
        elif callable(method):
            fn = functools.partial(method, self._worker)
        else:
            raise TypeError(f"collective_rpc: method must be a str or a callable, got {type(method).__name__}")
        return [fn(*tuple(args), **(kwargs or {}))]

    def apply_model(self, func):
        """[func(model)] for this rank's model (vLLM's apply_model)."""
        self._require_launched_ranks("apply_model")
        return [func(self._model)]

    def reset_prefix_cache(self) -> bool:
        """Forgets every cached KV block so no later request reuses KV computed before (say, with old weights).
        Returns False, changing nothing, while unfinished requests hold blocks."""
        return self._engine.reset_prefix_cache()

    def sleep(self, level: int = 1):
        """Frees the engine's memory while something else (training) uses the device: level 1 moves the
        weights to host memory and discards the KV cache; level 2 discards both (reload the weights with
        load_weights or collective_rpc("reload_weights") after wake_up). Needs LLM(enable_sleep_mode=True).
        Every address stays valid: parameter tensors taken before sleeping work again after wake_up."""
        self._engine.sleep(_checks.as_int("sleep", "level", level))

    def wake_up(self, tags=None):
        """Gives back what sleep() freed: tags None (everything), ["weights"] or ["kv_cache"]."""
        if tags is not None:
            if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
                raise TypeError(f"wake_up: tags must be None or a list of 'weights' / 'kv_cache', got {tags!r}")
            tags = list(tags)
        self._engine.wake_up(tags)

    def is_sleeping(self) -> bool:
        return self._engine.is_sleeping()

    def get_tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def get_default_sampling_params(self) -> SamplingParams:
        """vLLM's: SamplingParams with the model's generation_config.json defaults (temperature, top_k, top_p,
        min_p, repetition_penalty, max_new_tokens as max_tokens) unless LLM(generation_config="vllm")."""
        native_params = self._engine.default_sampling_params()
        return SamplingParams(**{name: getattr(native_params, name) for name in
                                 ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "max_tokens")})

    def generate(self, prompts, sampling_params=None, use_tqdm=True, priority=None):
        """Generates for every prompt and returns one RequestOutput per prompt, in order.

        prompts: a str, a {"prompt": str} or {"prompt_token_ids": [int, ...]} dict, or a list of those.
        sampling_params: one SamplingParams for all prompts, a list with one per prompt, or None (defaults).
        use_tqdm: True shows a progress bar (tqdm if installed, else the engine's bar on a terminal), False
        none, or a callable used in place of tqdm.tqdm.
        priority: None, one int for every prompt, or one int per prompt: under LLM(scheduling_policy="priority")
        lower is scheduled earlier (ties by arrival); under "fcfs" priorities are ignored, as vLLM 0.26 does. A list
        of another length raises VLLMValidationError (as a sampling_params list of another length).

        The GIL is released while the engine steps. Ctrl-C between steps aborts the unfinished requests and
        raises KeyboardInterrupt. A prompt that can never run (longer than max_model_len) raises ValueError
        before anything is generated.
        """
        native_prompts, prompt_was_ids = _parse_prompts(prompts)
        if sampling_params is None:  # vLLM: the model's generation defaults
            sampling_params = self.get_default_sampling_params()
        params = _parse_sampling_params(sampling_params, len(native_prompts))
        native_params = [p._to_native() for p in params]
        priorities = _parse_priority(priority, len(native_prompts))
        on_step, native_bar, close = make_progress(use_tqdm, len(native_prompts))
        try:
            raw = self._engine.generate(native_prompts, native_params, on_step, native_bar, priorities)
        finally:
            if close is not None:
                close()
        decode_one = self._decode_one
        return [
            from_native(r, was_ids, p, decode_one) for r, was_ids, p in zip(raw, prompt_was_ids, params)
        ]

    def beam_search(self, prompts, params, lora_request=None, use_tqdm=False, concurrency_limit=None):
        """vLLM's LLM.beam_search: for each prompt (a str or a {"prompt": ...} / {"prompt_token_ids": [...]} dict),
        the params.beam_width best continuations of at most params.max_tokens tokens (a BeamSearchParams).
        Returns one BeamSearchOutput per prompt; its .sequences are BeamSearchSequence (tokens with the prompt's,
        logprobs, cum_logprob, text, finish_reason), best first. Built on generate as vLLM's is (one token per
        step, 2 * beam_width candidates per beam), so beam_width is at most max_logprobs / 2."""
        if lora_request is not None:
            raise ValueError("LLM.beam_search: lora_request is not supported by shardlm")
        if not isinstance(params, BeamSearchParams):
            raise TypeError(f"LLM.beam_search: params must be a BeamSearchParams, got {type(params).__name__}")
        if concurrency_limit is not None and _checks.as_int("beam_search", "concurrency_limit", concurrency_limit) < 1:
            raise ValueError(f"LLM.beam_search: concurrency_limit must be at least 1, got {concurrency_limit}")
        native_prompts, _ = _parse_prompts(prompts)
        token_ids = [list(p.token_ids) if p.token_ids is not None else self._tokenizer.encode(p.text)
                     for p in native_prompts]
        limit = concurrency_limit or len(token_ids) or 1
        results = []
        for start in range(0, len(token_ids), limit):
            results += run_beam_search(self, token_ids[start:start + limit], params, use_tqdm=False)
        return results

    def get_metrics(self):
        """vLLM's LLM.get_metrics(): a list of shardlm.metrics Counter / Gauge / Histogram objects (vLLM's reader
        shapes and names): vllm:num_requests_running, vllm:num_requests_waiting, vllm:kv_cache_usage_perc,
        vllm:prompt_tokens, vllm:generation_tokens, vllm:num_preemptions, vllm:prefix_cache_queries,
        vllm:prefix_cache_hits, vllm:request_success (per finished_reason), and the histograms
        vllm:time_to_first_token_seconds, vllm:inter_token_latency_seconds,
        vllm:request_time_per_output_token_seconds, vllm:e2e_request_latency_seconds,
        vllm:request_queue_time_seconds. Counts are since the LLM was built."""
        return _metrics.from_native(self._engine.get_metrics())

    def chat(self, messages, sampling_params=None, use_tqdm=True, lora_request=None, chat_template=None,
             chat_template_content_format="auto", add_generation_prompt=True, continue_final_message=False,
             tools=None, chat_template_kwargs=None, mm_processor_kwargs=None):
        """vLLM's LLM.chat: each conversation (a list of {"role", "content"} messages, or a list of such lists)
        is rendered by the model's chat template (or `chat_template`, a template's text) exactly as
        transformers' apply_chat_template renders it, tokenized without added special tokens (the template
        writes them) and generated. Text content parts ([{"type": "text", "text": ...}]) are joined with
        newlines. Returns one RequestOutput per conversation; its prompt is the rendered text."""
        if lora_request is not None:
            raise ValueError("LLM.chat: lora_request is not supported by shardlm")
        if mm_processor_kwargs:
            raise ValueError("LLM.chat: mm_processor_kwargs is not supported by shardlm (text models only)")
        if chat_template_content_format not in ("auto", "string"):
            raise ValueError(f"LLM.chat: chat_template_content_format {chat_template_content_format!r} is not "
                             "supported (text content is passed as a string)")
        conversations = _conversations(messages)
        texts = [self._tokenizer._render(c, tools, chat_template, add_generation_prompt, continue_final_message,
                                         chat_template_kwargs or {}) for c in conversations]
        prompts = [{"prompt_token_ids": self._tokenizer.encode(t, add_special_tokens=False)} for t in texts]
        outputs = self.generate(prompts, sampling_params, use_tqdm)
        for out, text in zip(outputs, texts):
            out.prompt = text
        return outputs

    def _decode_one(self, token_id):
        return self._engine.decode([token_id], False).decode("utf-8", errors="replace")

    def __repr__(self):
        e = self._engine
        return f"LLM(architecture={e.architecture!r}, rank={e.rank}, world_size={e.world_size}, max_model_len={e.max_model_len})"


def _parse_one_prompt(index, p):
    """-> (native Prompt, given as token ids?)"""
    where = f"prompts[{index}]" if index is not None else "prompts"
    if isinstance(p, str):
        return native.Prompt(_checks.as_str("generate", where, p)), False
    if isinstance(p, dict):
        unknown = sorted(set(p) - {"prompt", "prompt_token_ids"})
        if unknown:
            raise ValueError(f"generate: {where} has keys shardlm does not support: {unknown}")
        if "prompt_token_ids" in p:
            ids = _checks.as_int_list("generate", f"{where}['prompt_token_ids']", p["prompt_token_ids"])
            return native.Prompt.from_token_ids(ids), True
        if "prompt" in p:
            return native.Prompt(_checks.as_str("generate", f"{where}['prompt']", p["prompt"])), False
        raise ValueError(f"generate: {where} must have a 'prompt' or a 'prompt_token_ids' key")
    raise TypeError(
        f"generate: {where} must be a str or a dict with 'prompt' or 'prompt_token_ids', got {type(p).__name__} {p!r}"
    )


def _parse_prompts(prompts):
    if isinstance(prompts, (str, dict)):
        parsed = [_parse_one_prompt(None, prompts)]
    elif isinstance(prompts, (list, tuple)):
        parsed = [_parse_one_prompt(i, p) for i, p in enumerate(prompts)]
    else:
        raise TypeError(
            f"generate: prompts must be a str, a dict or a list of those, got {type(prompts).__name__} {prompts!r}"
        )
    return [n for n, _ in parsed], [was_ids for _, was_ids in parsed]


def _parse_priority(priority, num_prompts):
    if priority is None:
        return []
    if not isinstance(priority, (list, tuple)):  # one int for every prompt, as vLLM's
        return [_checks.as_int("generate", "priority", priority)] * num_prompts
    if len(priority) != num_prompts:
        raise VLLMValidationError(
            f"generate: the lengths of prompts ({num_prompts}) and priority ({len(priority)}) must be the same",
            parameter="priority", value=list(priority))
    return [_checks.as_int("generate", f"priority[{i}]", p) for i, p in enumerate(priority)]


def _no_logits_processors(params):
    if params.logits_processors:
        raise VLLMValidationError("shardlm does not support per-request logits_processors (nor does vLLM V1); use "
                                  "logit_bias, allowed_token_ids or bad_words", parameter="logits_processors",
                                  value=params.logits_processors)
    return params


def _parse_sampling_params(sampling_params, num_prompts):
    if sampling_params is None:
        return [SamplingParams()] * num_prompts
    if isinstance(sampling_params, SamplingParams):
        return [_no_logits_processors(sampling_params)] * num_prompts
    if isinstance(sampling_params, (list, tuple)):
        if len(sampling_params) != num_prompts:
            raise VLLMValidationError(
                f"generate: the lengths of prompts ({num_prompts}) and sampling_params ({len(sampling_params)}) must be the same",
                parameter="sampling_params", value=len(sampling_params))
        for i, p in enumerate(sampling_params):
            if not isinstance(p, SamplingParams):
                raise TypeError(f"generate: sampling_params[{i}] must be a SamplingParams, got {type(p).__name__}")
        return [_no_logits_processors(p) for p in sampling_params]
    raise TypeError(
        f"generate: sampling_params must be a SamplingParams, a list of them or None, got {type(sampling_params).__name__}"
    )


def _conversations(messages):
    """One conversation (a list of message dicts) or several (a list of lists) -> a list of conversations."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError("LLM.chat: messages must be a non-empty list of messages or a list of conversations")
    if all(isinstance(m, (list, tuple)) for m in messages):
        return [list(c) for c in messages]
    return [list(messages)]

