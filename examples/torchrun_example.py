"""
vLLM's examples/offline_inference/torchrun_example.py on shardlm: the only difference that matters is
`from shardlm import LLM, SamplingParams`, and the "further tips" at the end of vLLM's file are carried out
with shardlm's groups.

Tensor-parallel inference with an external launcher: every rank runs this same script, builds the same LLM
with tensor_parallel_size = world size, loads only its shard, and gets the same outputs.

    build/bin/shardlm-run --nproc-per-node=2 /usr/bin/python3 examples/torchrun_example.py
    torchrun --nproc-per-node=2 examples/torchrun_example.py

The argument 2 should match tensor_parallel_size below. The model is --model, else $SHARDLM_MODEL, else
"facebook/opt-125m" (a Hugging Face folder, or a hub id already in the local HF cache).
"""

import argparse
import json
import os

import numpy as np

from shardlm import LLM, SamplingParams
from shardlm.distributed import get_world_group

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default=os.environ.get("SHARDLM_MODEL", "facebook/opt-125m"))
parser.add_argument("--tensor-parallel-size", type=int, default=2)
parser.add_argument("--results", default="torchrun_example_results.txt", help="where rank 0 saves the outputs (a JSON object a line)")
args = parser.parse_args()

# Create prompts, the same across all ranks
prompts = [
    "Hello, my name is",
    "The president of the United States is",
    "The capital of France is",
    "The future of AI is",
]

# Create sampling parameters, the same across all ranks
sampling_params = SamplingParams(temperature=0.8, top_p=0.95)

# Use `distributed_executor_backend="external_launcher"` so that
# this llm engine/instance only creates one worker.
# it is important to set an explicit seed to make sure that
# all ranks have the same random seed, so that sampling can be
# deterministic across ranks.
llm = LLM(
    model=args.model,
    tensor_parallel_size=args.tensor_parallel_size,
    distributed_executor_backend="external_launcher",
    seed=1,
)

outputs = llm.generate(prompts, sampling_params)

# all ranks will have the same outputs
print("-" * 50)
for output in outputs:
    prompt = output.prompt
    generated_text = output.outputs[0].text
    print(f"Prompt: {prompt!r}\nGenerated text: {generated_text!r}\n")
    print("-" * 50)

# Further tips, carried out.
world = get_world_group()

# 1. To communicate control messages across all ranks, use the cpu group (Gloo). Python objects travel
#    pickled. Here rank 0 announces that it saves the results, every rank checks that all ranks generated
#    the same texts, and rank 0 alone writes the file.
cpu_group = world.cpu_group
rank = cpu_group.rank()
message = cpu_group.broadcast_object(f"rank 0 saves the results to {args.results}" if rank == 0 else None, src=0)
texts = [output.outputs[0].text for output in outputs]
same_everywhere = all(t == texts for t in cpu_group.all_gather_object(texts))
if rank == 0:
    with open(args.results, "w", encoding="utf-8") as f:
        for output in outputs:
            f.write(json.dumps({"prompt": output.prompt, "text": output.outputs[0].text}) + "\n")
cpu_group.barrier()

# 2. To communicate data across all ranks, use the device group (Gloo on CPUs, NCCL on GPUs); arrays are
#    float32 NumPy arrays.
device_group = world.device_group
rank_sum = device_group.all_reduce(np.array([rank + 1.0], dtype=np.float32))

# 3. To access the model directly in every rank (vLLM's path; llm.model is the same object): each rank
#    holds its shard only.
model = llm.llm_engine.model_executor.driver_worker.worker.model_runner.model
num_tensors = sum(1 for _ in model.named_parameters())
print(
    f"rank {rank}/{world.world_size}: control message {message!r}; same outputs on all ranks: {same_everywhere}; "
    f"device-group sum of (rank+1) = {rank_sum[0]:.0f}; {model.architecture} shard holds "
    f"{model.num_parameters()} parameters in {num_tensors} tensors",
    flush=True,
)
