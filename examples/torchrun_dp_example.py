"""
vLLM's data-parallel torchrun example (examples/features/torchrun/torchrun_dp_example_offline.py) on shardlm:
`vllm` became `shardlm` in the import. Data load balancing is the program's: every rank builds the same LLM,
finds its replica in llm.llm_engine.vllm_config.parallel_config, and keeps the prompts of that replica.

    torchrun --nproc-per-node=2 examples/torchrun_dp_example.py --model DIR                  # 2 replicas, TP=1
    torchrun --nproc-per-node=4 examples/torchrun_dp_example.py --model DIR --tp-size=2 --dp-size=2
"""

import argparse
import os

from shardlm import LLM, SamplingParams

parser = argparse.ArgumentParser(description="Data-parallel inference under torchrun")
parser.add_argument("--model", default=os.environ.get("SHARDLM_MODEL", "facebook/opt-125m"))
parser.add_argument("--tp-size", type=int, default=1)
parser.add_argument("--dp-size", type=int, default=2)
parser.add_argument("--max-model-len", type=int, default=None)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--device", default="auto")
args = parser.parse_args()

prompts = [
    "Hello, my name is",
    "The president of the United States is",
    "The capital of France is",
    "The future of AI is",
] * 10
sampling_params = SamplingParams(temperature=0.8, top_p=0.95)

llm = LLM(
    model=args.model,
    tensor_parallel_size=args.tp_size,
    data_parallel_size=args.dp_size,
    distributed_executor_backend="external_launcher",
    max_model_len=args.max_model_len,
    device=args.device,
    seed=args.seed,
)

dp_rank = llm.llm_engine.vllm_config.parallel_config.data_parallel_rank
dp_size = llm.llm_engine.vllm_config.parallel_config.data_parallel_size
prompts = [f"{idx}.{prompt}" for idx, prompt in enumerate(prompts) if idx % dp_size == dp_rank]

outputs = llm.generate(prompts, sampling_params)
for output in outputs:
    print(f"DP Rank: {dp_rank} Prompt: {output.prompt!r}\nGenerated text: {output.outputs[0].text!r}\n")
