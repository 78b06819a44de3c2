"""shardlm: vLLM's offline API (LLM, SamplingParams, RequestOutput) on a native C++ engine with tensor
parallelism across processes started by an external launcher (torchrun, mpirun, srun, shardlm-run).

    from shardlm import LLM, SamplingParams
    llm = LLM(model="facebook/opt-125m")
    for out in llm.generate(["Hello, my name is"], SamplingParams(temperature=0.8, top_p=0.95)):
        print(out.prompt, out.outputs[0].text)

Each rank can see its shard of the model (llm.model.named_parameters(), llm.model.num_parameters()) and talk
to the other ranks through shardlm.distributed.get_world_group() / get_tp_group().
"""

from shardlm import distributed
from shardlm._native import EngineError
from shardlm._version import __version__  # written by CMake from project(shardlm VERSION ...)
from shardlm.inputs import PromptType, TextPrompt, TokensPrompt
from shardlm.beam_search import BeamSearchOutput, BeamSearchSequence
from shardlm.llm import LLM
from shardlm.engine_args import EngineArgs  # after LLM: its defaults are LLM's
from shardlm.model import Model, ParameterInfo
from shardlm.outputs import CompletionOutput, Logprob, RequestMetrics, RequestOutput
from shardlm.sampling_params import BeamSearchParams, SamplingParams
from shardlm.tokenizer import Tokenizer

__all__ = [
    "LLM",
    "EngineArgs",
    "SamplingParams",
    "BeamSearchParams",
    "BeamSearchOutput",
    "BeamSearchSequence",
    "RequestMetrics",
    "RequestOutput",
    "CompletionOutput",
    "Logprob",
    "Model",
    "ParameterInfo",
    "Tokenizer",
    "TextPrompt",
    "TokensPrompt",
    "PromptType",
    "EngineError",
    "distributed",
]
