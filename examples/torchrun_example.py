"""
vLLM's examples/offline_inference/torchrun_example.py on shardlm: `vllm` became `shardlm` in the imports, and
the "further tips" at the end of vLLM's file are carried out as written there (torch.distributed on the
engine's cpu_group and device_group, the model reached through vLLM's path).

Tensor-parallel inference with an external launcher: every rank runs this same script, builds the same LLM
with tensor_parallel_size = world size, loads only its shard, and gets the same outputs.

    torchrun --nproc-per-node=2 examples/torchrun_example.py
    build/bin/shardlm-run --nproc-per-node=2 python3 examples/torchrun_example.py
    shardlm-run --nproc-per-node=2 python examples/torchrun_example.py     # after `pip install .`

The model is --model, else $SHARDLM_MODEL, else "facebook/opt-125m" (a Hugging Face folder, or a hub id already
in the local HF cache).
"""

import argparse
import json
import os
import sys

import torch
import torch.distributed as dist

from shardlm import LLM, SamplingParams

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default=os.environ.get("SHARDLM_MODEL", "facebook/opt-125m"))
parser.add_argument("--tensor-parallel-size", type=int, default=2)
parser.add_argument("--device", default="auto")
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
    device=args.device,
    seed=1,
)

outputs = llm.generate(prompts, sampling_params)

# all ranks will have the same outputs
# Every rank shares the launcher's stdout: each writes its report in one write (atomic on a pipe up to 4 KiB),
# so the ranks' lines cannot interleave even with PYTHONUNBUFFERED=1 (where print writes text and newline apart).
report = ["-" * 50]
for output in outputs:
    prompt = output.prompt
    generated_text = output.outputs[0].text
    report.append(f"Prompt: {prompt!r}\nGenerated text: {generated_text!r}\n")
    report.append("-" * 50)
sys.stdout.write("\n".join(report) + "\n")
sys.stdout.flush()

# Further tips, carried out.
# 1. To communicate control messages across all ranks, use the cpu group, a PyTorch ProcessGroup with the Gloo
#    backend. Here rank 0 announces that it saves the results, every rank checks that all ranks generated the
#    same texts, and rank 0 alone writes the file.
from shardlm.distributed.parallel_state import get_world_group

cpu_group = get_world_group().cpu_group
torch_rank = dist.get_rank(group=cpu_group)
message = [f"rank 0 saves the results to {args.results}" if torch_rank == 0 else None]
dist.broadcast_object_list(message, src=0, group=cpu_group)
texts = [output.outputs[0].text for output in outputs]
all_texts = [None] * dist.get_world_size(group=cpu_group)
dist.all_gather_object(all_texts, texts, group=cpu_group)
if torch_rank == 0:
    # do something for rank 0, e.g. saving the results to disk.
    with open(args.results, "w", encoding="utf-8") as f:
        for output in outputs:
            f.write(json.dumps({"prompt": output.prompt, "text": output.outputs[0].text}) + "\n")
dist.barrier(group=cpu_group)

# 2. To communicate data across all ranks, use the model's device group, a PyTorch ProcessGroup with the NCCL
#    backend on GPUs (Gloo on CPUs).
device_group = get_world_group().device_group
device = get_world_group().device
rank_sum = torch.tensor([torch_rank + 1.0], device=device)
dist.all_reduce(rank_sum, group=device_group)

# 3. To access the model directly in every rank: its parameters are torch tensors sharing the engine's memory
#    (this rank's shard).
model = llm.llm_engine.model_executor.driver_worker.worker.model_runner.model
params = dict(model.named_parameters())
sys.stdout.write(
    f"rank {torch_rank}/{dist.get_world_size()}: control message {message[0]!r}; "
    f"same outputs on all ranks: {all(t == texts for t in all_texts)}; "
    f"device-group ({dist.get_backend(device_group)}) sum of (rank+1) = {rank_sum.item():.0f}; "
    f"{model.architecture} shard holds {sum(p.numel() for p in params.values())} parameters in {len(params)} "
    f"tensors on {next(iter(params.values())).device}\n"
)
sys.stdout.flush()
