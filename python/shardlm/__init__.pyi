# Type stubs for the shardlm package (vLLM's offline API on shardlm's engine).
from os import PathLike
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

from shardlm import distributed as distributed

__version__: str

class EngineError(RuntimeError): ...

from shardlm.inputs import PromptType as PromptType, TextPrompt as TextPrompt, TokensPrompt as TokensPrompt

class SamplingParams:
    n: int
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    seed: Optional[int]
    stop: List[str]
    stop_token_ids: List[int]
    ignore_eos: bool
    max_tokens: Optional[int]
    min_tokens: int
    logprobs: Optional[int]
    prompt_logprobs: Optional[int]
    detokenize: bool
    skip_special_tokens: bool
    spaces_between_special_tokens: bool
    include_stop_str_in_output: bool
    output_kind: Any
    logit_bias: Dict[int, float]
    allowed_token_ids: Optional[List[int]]
    bad_words: List[str]
    truncate_prompt_tokens: Optional[int]
    logits_processors: Optional[List[Callable[..., Any]]]
    def __init__(
        self,
        n: int = 1,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repetition_penalty: float = 1.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        min_p: float = 0.0,
        seed: Optional[int] = None,
        stop: Optional[Union[str, List[str]]] = None,
        stop_token_ids: Optional[List[int]] = None,
        ignore_eos: bool = False,
        max_tokens: Optional[int] = 16,
        min_tokens: int = 0,
        logprobs: Optional[int] = None,
        prompt_logprobs: Optional[int] = None,
        detokenize: bool = True,
        skip_special_tokens: bool = True,
        spaces_between_special_tokens: bool = True,
        include_stop_str_in_output: bool = False,
        output_kind: Any = ...,
        logit_bias: Optional[Dict[Union[int, str], float]] = None,
        allowed_token_ids: Optional[List[int]] = None,
        bad_words: Optional[List[str]] = None,
        truncate_prompt_tokens: Optional[int] = None,
        logits_processors: Optional[List[Callable[..., Any]]] = None,
    ) -> None: ...
    def clone(self) -> SamplingParams: ...

class Logprob:
    logprob: float
    rank: Optional[int]
    decoded_token: Optional[str]
    def __init__(self, logprob: float, rank: Optional[int] = None, decoded_token: Optional[str] = None) -> None: ...

class CompletionOutput:
    index: int
    text: str
    token_ids: List[int]
    cumulative_logprob: Optional[float]
    logprobs: Optional[List[Dict[int, Logprob]]]
    finish_reason: Optional[str]
    stop_reason: Union[int, str, None]
    def finished(self) -> bool: ...

class RequestMetrics:
    arrival_time: float
    first_scheduled_time: float
    first_token_time: float
    last_token_time: float
    finished_time: float
    time_in_queue: float
    first_token_latency: float
    num_generation_tokens: int

class RequestOutput:
    request_id: str
    prompt: Optional[str]
    prompt_token_ids: List[int]
    prompt_logprobs: Optional[List[Optional[Dict[int, Logprob]]]]
    outputs: List[CompletionOutput]
    finished: bool
    num_cached_tokens: int
    metrics: Optional[RequestMetrics]

class BeamSearchParams:
    beam_width: int
    max_tokens: int
    ignore_eos: bool
    temperature: float
    length_penalty: float
    include_stop_str_in_output: bool
    def __init__(
        self,
        beam_width: int,
        max_tokens: int,
        ignore_eos: bool = False,
        temperature: float = 0.0,
        length_penalty: float = 1.0,
        include_stop_str_in_output: bool = False,
    ) -> None: ...

class BeamSearchSequence:
    tokens: List[int]
    logprobs: List[Dict[int, Logprob]]
    cum_logprob: float
    text: Optional[str]
    finish_reason: Optional[str]
    stop_reason: Union[int, str, None]

class BeamSearchOutput:
    sequences: List[BeamSearchSequence]

class ParameterInfo(NamedTuple):
    shape: Tuple[int, ...]
    dtype: str
    numel: int

class Model:
    @property
    def architecture(self) -> str: ...
    @property
    def vocab_size(self) -> int: ...
    # With torch installed: torch.Tensor views of the engine's memory; without it: ParameterInfo records.
    def named_parameters(self) -> Iterator[Tuple[str, Any]]: ...
    def parameters(self) -> Iterator[Any]: ...
    def state_dict(self) -> "OrderedDict[str, Any]": ...
    def load_weights(self, weights: Iterable[Tuple[str, Any]]) -> Set[str]: ...
    def num_parameters(self) -> int: ...

class Tokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> List[int]: ...
    def decode(self, token_ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...
    def __call__(self, text: Union[str, Sequence[str]], add_special_tokens: bool = True) -> Dict[str, Any]: ...
    def convert_ids_to_tokens(self, token_ids: Union[int, Sequence[int]]) -> Union[str, List[str]]: ...
    @property
    def vocab_size(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def bos_token_id(self) -> Optional[int]: ...
    @property
    def eos_token_id(self) -> Optional[int]: ...
    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> List[str]: ...
    def get_vocab(self) -> Dict[str, int]: ...
    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]) -> Union[Optional[int], List[Optional[int]]]: ...
    @property
    def all_special_ids(self) -> List[int]: ...
    def apply_chat_template(
        self,
        conversation: Sequence[Any],
        tools: Optional[Sequence[Dict[str, Any]]] = None,
        documents: Optional[Sequence[Dict[str, Any]]] = None,
        chat_template: Optional[str] = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        **kwargs: Any,
    ) -> Union[str, List[int], List[str], List[List[int]]]: ...

class _ModelRunner:
    model: Model

class _Worker:
    model_runner: _ModelRunner

class _DriverWorker:
    worker: _Worker
    model_runner: _ModelRunner

class _ModelExecutor:
    driver_worker: _DriverWorker

class _LLMEngine:
    model_executor: _ModelExecutor
    def get_tokenizer(self) -> Tokenizer: ...

class EngineArgs:
    """A dataclass: its fields are the engine's (EngineArgs::for_each_field) with LLM's defaults."""
    model: str
    tokenizer: Optional[str]
    generation_config: str
    dtype: str
    device: str
    quantization: Optional[str]
    max_model_len: Optional[int]
    seed: Optional[int]
    tensor_parallel_size: int
    data_parallel_size: int
    distributed_executor_backend: Optional[str]
    block_size: int
    max_num_batched_tokens: Optional[int]
    max_num_seqs: Optional[int]
    enable_prefix_caching: Optional[bool]
    enable_chunked_prefill: Optional[bool]
    kv_cache_memory_bytes: Optional[int]
    gpu_memory_utilization: float
    num_threads: Optional[int]
    distributed_timeout_s: Optional[float]
    enforce_eager: bool
    enable_sleep_mode: bool
    max_logprobs: int
    scheduling_policy: str
    def __init__(self, model: str, **kwargs: Any) -> None: ...
    @staticmethod
    def add_cli_args(parser: Any) -> Any: ...
    @classmethod
    def from_cli_args(cls, args: Any) -> "EngineArgs": ...
    def create_engine_config(self) -> Any: ...

class LLM:
    llm_engine: _LLMEngine
    def __init__(
        self,
        model: Union[str, PathLike[str]],
        *,
        tokenizer: Optional[Union[str, PathLike[str]]] = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        seed: Optional[int] = 0,
        max_model_len: Optional[int] = None,
        gpu_memory_utilization: float = 0.9,
        distributed_executor_backend: Optional[str] = None,
        enable_prefix_caching: Optional[bool] = True,
        block_size: int = 16,
        max_num_batched_tokens: Optional[int] = None,
        max_num_seqs: Optional[int] = None,
        kv_cache_memory_bytes: Optional[int] = None,
        device: str = "auto",
        enable_chunked_prefill: Optional[bool] = None,
        num_threads: Optional[int] = None,
        distributed_timeout_s: Optional[float] = None,
        enforce_eager: bool = False,
        data_parallel_size: int = 1,
        enable_sleep_mode: bool = False,
        max_logprobs: int = 20,
        generation_config: str = "auto",
        quantization: Optional[str] = None,
        scheduling_policy: str = "fcfs",
        **kwargs: Any,
    ) -> None: ...
    def collective_rpc(
        self,
        method: Union[str, Callable[..., Any]],
        timeout: Optional[float] = None,
        args: Tuple[Any, ...] = (),
        kwargs: Optional[Dict[str, Any]] = None,
    ) -> List[Any]: ...
    def apply_model(self, func: Callable[[Model], Any]) -> List[Any]: ...
    def reset_prefix_cache(self) -> bool: ...
    def sleep(self, level: int = 1) -> None: ...
    def wake_up(self, tags: Optional[List[str]] = None) -> None: ...
    def is_sleeping(self) -> bool: ...
    @property
    def model(self) -> Model: ...
    def get_tokenizer(self) -> Tokenizer: ...
    def get_default_sampling_params(self) -> SamplingParams: ...
    def chat(
        self,
        messages: Sequence[Any],
        sampling_params: Optional[Union[SamplingParams, Sequence[SamplingParams]]] = None,
        use_tqdm: Union[bool, Callable[..., Any]] = True,
        lora_request: Any = None,
        chat_template: Optional[str] = None,
        chat_template_content_format: str = "auto",
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        tools: Optional[Sequence[Dict[str, Any]]] = None,
        chat_template_kwargs: Optional[Dict[str, Any]] = None,
        mm_processor_kwargs: Optional[Dict[str, Any]] = None,
    ) -> List[RequestOutput]: ...
    def generate(
        self,
        prompts: Union[PromptType, Sequence[PromptType]],
        sampling_params: Optional[Union[SamplingParams, Sequence[SamplingParams]]] = None,
        use_tqdm: Union[bool, Callable[..., Any]] = True,
        priority: Optional[Union[int, List[int]]] = None,
    ) -> List[RequestOutput]: ...
    def beam_search(
        self,
        prompts: Union[PromptType, Sequence[PromptType]],
        params: BeamSearchParams,
        lora_request: Any = None,
        use_tqdm: bool = False,
        concurrency_limit: Optional[int] = None,
    ) -> List[BeamSearchOutput]: ...
    def get_metrics(self) -> List[Any]: ...
