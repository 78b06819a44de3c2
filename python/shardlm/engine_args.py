"""EngineArgs: vLLM's engine arguments as a dataclass (`LLM(**dataclasses.asdict(args))`, `add_cli_args`,
`from_cli_args`, `create_engine_config`), and the conversion of those values to the engine's native struct that
LLM uses too.

The fields are the engine's: native.EngineArgs.FIELDS, read from C++'s EngineArgs::for_each_field, in its order.
A field's Python default is LLM's default for that keyword (None where the engine picks: max_model_len,
max_num_batched_tokens, ...), so `LLM(**asdict(EngineArgs(model=M)))` is `LLM(M)`."""

import argparse
import dataclasses
import inspect

from shardlm import _checks
from shardlm._native import native


def _dtype_name(owner, value):
    if isinstance(value, str):
        return value
    text = str(value)
    if type(value).__module__ == "torch" and text.startswith("torch."):  # a torch.dtype
        return text[len("torch.") :]
    raise TypeError(f"{owner}: dtype must be a str such as 'auto', 'float16' or 'bfloat16', got {value!r}")


def engine_args_to_native(v, owner="LLM"):
    """{field: value} (every field of native.EngineArgs.FIELDS) -> native.EngineArgs. Wrong types raise TypeError
    and values out of range ValueError, both naming the field."""
    a = native.EngineArgs()
    a.model = _checks.as_str(owner, "model", v["model"], allow_path=True)
    tok = _checks.as_str(owner, "tokenizer", v["tokenizer"], allow_none=True, allow_path=True)
    a.tokenizer = tok or ""
    a.tensor_parallel_size = _checks.as_int(owner, "tensor_parallel_size", v["tensor_parallel_size"])
    a.dtype = _dtype_name(owner, v["dtype"])
    seed = _checks.as_int(owner, "seed", v["seed"], allow_none=True, bounds=_checks.INT64)
    a.seed = 0 if seed is None else seed  # ranks must agree on a seed, so None is not random here
    a.max_model_len = _checks.as_int(owner, "max_model_len", v["max_model_len"], allow_none=True) or 0
    a.gpu_memory_utilization = _checks.as_float(owner, "gpu_memory_utilization", v["gpu_memory_utilization"])
    backend = _checks.as_str(owner, "distributed_executor_backend", v["distributed_executor_backend"], allow_none=True)
    a.distributed_executor_backend = "" if backend is None else backend  # "": the launcher's ranks, or our own
    caching = _checks.as_bool(owner, "enable_prefix_caching", v["enable_prefix_caching"], allow_none=True)
    a.enable_prefix_caching = True if caching is None else caching
    a.block_size = _checks.as_int(owner, "block_size", v["block_size"])
    # None: vLLM's defaults for the device (0 in the native EngineArgs, so 0 itself is refused here).
    for key, value in (("max_num_batched_tokens", v["max_num_batched_tokens"]), ("max_num_seqs", v["max_num_seqs"])):
        if value is not None:
            n = _checks.as_int(owner, key, value)
            if n < 1:
                raise ValueError(f"{owner}: {key} must be at least 1, got {n}")
            setattr(a, key, n)
    kv = _checks.as_int(owner, "kv_cache_memory_bytes", v["kv_cache_memory_bytes"], allow_none=True, bounds=_checks.INT64)
    if kv is not None:
        if kv <= 0:
            raise ValueError(f"{owner}: kv_cache_memory_bytes must be positive, got {kv}")
        a.kv_cache_memory_bytes = kv
    a.device = _checks.as_str(owner, "device", v["device"])
    chunked = _checks.as_bool(owner, "enable_chunked_prefill", v["enable_chunked_prefill"], allow_none=True)
    if chunked is not None:
        a.enable_chunked_prefill = chunked
    threads = _checks.as_int(owner, "num_threads", v["num_threads"], allow_none=True)
    if threads is not None:
        a.num_threads = threads
    timeout = _checks.as_float(owner, "distributed_timeout_s", v["distributed_timeout_s"], allow_none=True)
    if timeout is not None:
        if not timeout > 0:
            raise ValueError(f"{owner}: distributed_timeout_s must be positive, got {timeout}")
        a.distributed_timeout_s = timeout

    a.enforce_eager = _checks.as_bool(owner, "enforce_eager", v["enforce_eager"])
    a.data_parallel_size = _checks.as_int(owner, "data_parallel_size", v["data_parallel_size"])
    a.enable_sleep_mode = _checks.as_bool(owner, "enable_sleep_mode", v["enable_sleep_mode"])
    a.max_logprobs = _checks.as_int(owner, "max_logprobs", v["max_logprobs"])
    a.generation_config = _checks.as_str(owner, "generation_config", v["generation_config"], allow_path=True)
    quant = _checks.as_str(owner, "quantization", v["quantization"], allow_none=True)
    if quant is not None and quant != "fp8":
        raise ValueError(f"{owner}: quantization must be None or 'fp8', got {quant!r}")
    a.quantization = quant or ""
    policy = _checks.as_str(owner, "scheduling_policy", v["scheduling_policy"])
    if policy not in ("fcfs", "priority"):
        raise ValueError(f"{owner}: scheduling_policy must be 'fcfs' or 'priority', got {policy!r}")
    a.scheduling_policy = policy
    return a


FIELD_NAMES = tuple(name for name, _, _ in native.EngineArgs.FIELDS)
_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _llm_defaults():
    from shardlm.llm import LLM

    params = inspect.signature(LLM.__init__).parameters
    missing = [name for name in FIELD_NAMES if name not in params]
    if missing:  # a new native field needs its LLM keyword (a programming error, found by the first import)
        raise RuntimeError(f"shardlm.LLM has no keyword for the engine fields {missing}")
    return {name: params[name].default for name in FIELD_NAMES}


def _make_class():
    defaults = _llm_defaults()
    fields = []
    for name, kind, _ in native.EngineArgs.FIELDS:
        default = defaults[name]
        if default is inspect.Parameter.empty:
            fields.append((name, str))  # model: required
        else:
            fields.append((name, _TYPES[kind], dataclasses.field(default=default)))
    cls = dataclasses.make_dataclass("EngineArgs", fields, namespace=_METHODS)
    cls.__module__ = "shardlm"
    return cls


@staticmethod
def add_cli_args(parser):
    """Adds a --flag-name for every field (vLLM's spellings: --max-model-len, --enforce-eager /
    --no-enforce-eager) to `parser` (an ArgumentParser or an argument group) and returns it."""
    defaults = _llm_defaults()
    for name, kind, _ in native.EngineArgs.FIELDS:
        flag = "--" + name.replace("_", "-")
        default = defaults[name]
        default = None if default is inspect.Parameter.empty else default
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=_TYPES[kind], default=default)
    return parser


@classmethod
def from_cli_args(cls, args):
    """EngineArgs from an argparse.Namespace that add_cli_args filled (other attributes are ignored)."""
    return cls(**{name: getattr(args, name) for name in FIELD_NAMES if hasattr(args, name)})


def create_engine_config(self):
    """Checks every field as LLM does (TypeError / ValueError naming it) and returns the engine's native
    EngineArgs; the model itself is read only when an LLM is built."""
    return engine_args_to_native(dataclasses.asdict(self), owner="EngineArgs")


_METHODS = {
    "__doc__": "vLLM's EngineArgs with the engine's fields: EngineArgs(model=M, ...); LLM(**dataclasses.asdict(args)).",
    "add_cli_args": add_cli_args,
    "from_cli_args": from_cli_args,
    "create_engine_config": create_engine_config,
}


def __getattr__(name):
    # The class is made on first use: its defaults come from LLM's signature, and llm.py imports this module.
    if name == "EngineArgs":
        cls = globals()["EngineArgs"] = _make_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
