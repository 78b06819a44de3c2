"""The objects on vLLM's path to the model, `llm.llm_engine.model_executor.driver_worker.worker.model_runner.model`,
and what RL frameworks reach through it: the worker that collective_rpc runs methods on, and the
`llm_engine.vllm_config` fields vLLM's torchrun examples and tests read."""

import types

from shardlm import _torch


class ModelRunner:
    def __init__(self, model):
        self.model = model


class Worker:
    """This rank's worker: what `LLM.collective_rpc` calls methods on (a name of a method here, or a callable
    that receives this worker as its first argument)."""

    def __init__(self, llm, engine, model, launch):
        self._llm = llm
        self._engine = engine
        self.model_runner = ModelRunner(model)
        self.rank = engine.rank
        self.local_rank = launch["local_rank"]
        self.device = _device(engine)

    def get_model(self):
        return self.model_runner.model

    def load_weights(self, weights):
        return self.model_runner.model.load_weights(weights)

    def reload_weights(self):
        """Re-reads this rank's shard from the checkpoint on disk into the same memory (vLLM's reload_weights)."""
        self._engine.reload_weights()
        self._engine.reset_prefix_cache()

    def sleep(self, level=1):
        self._llm.sleep(level)

    def wake_up(self, tags=None):
        self._llm.wake_up(tags)

    def check_health(self):
        return None

    def __repr__(self):
        return f"Worker(rank={self.rank}, local_rank={self.local_rank}, device={self.device})"


def _device(engine):
    if _torch.torch is None:
        return engine.device
    if engine.device == "cuda":
        return _torch.torch.device("cuda", _torch.torch.cuda.current_device())
    return _torch.torch.device("cpu")


def vllm_config(llm, engine, args):
    """The fields of vLLM's VllmConfig that programs written for vLLM read."""
    stats = engine.stats()
    tp_size = engine.tp_group().world_size
    dp_size = engine.world_size // tp_size
    return types.SimpleNamespace(
        parallel_config=types.SimpleNamespace(
            tensor_parallel_size=tp_size,
            pipeline_parallel_size=1,
            data_parallel_size=dp_size,
            data_parallel_rank=engine.rank // tp_size,
            world_size=tp_size,
            world_size_across_dp=engine.world_size,
            distributed_executor_backend=args.distributed_executor_backend,
        ),
        cache_config=types.SimpleNamespace(
            block_size=stats["block_size"],
            num_gpu_blocks=stats["num_kv_blocks"],  # the KV-cache blocks of this rank, GPU or CPU
            num_cpu_blocks=0,  # no swap space: preempted requests are recomputed
            enable_prefix_caching=args.enable_prefix_caching,
        ),
        model_config=types.SimpleNamespace(
            model=args.model,
            max_model_len=engine.max_model_len,
            dtype=args.dtype,
            seed=args.seed,
        ),
    )
