"""
Reinforcement-learning style co-location: training and inference in the same torchrun processes, with only the
weights moving between them (what veRL, TRL's GRPO "colocate" mode and OpenRLHF do with vLLM).

Each iteration, on every rank:
  1. the engine generates rollouts from the current weights;
  2. the engine sleeps (its memory is freed) while a PyTorch copy of the model (transformers' class, the
     checkpoint's Hugging Face names) trains one SGD step on those rollouts, gradients averaged over the
     engine's own device group;
  3. the engine wakes up and the new weights go into it in place with load_weights (each rank takes its shard
     of the full tensors); the time of that sync is printed.

    torchrun --nproc-per-node=2 examples/rlhf_colocate.py --model DIR [--device cpu|cuda] [--steps 3] [--check]

--check saves the trained weights, builds a fresh LLM from them and compares its greedy generations (tokens
and logprobs) with the updated engine's: they must be equal.
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import torch
import torch.distributed as dist
from transformers import AutoModelForCausalLM

from shardlm import LLM, SamplingParams
from shardlm.distributed.parallel_state import get_world_group

parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
parser.add_argument("--model", default=os.environ.get("SHARDLM_MODEL", "facebook/opt-125m"))
parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--dtype", default="auto",
                    help="trainer and engine dtype; auto: the checkpoint's (the engine computes in float32 on CPUs)")
parser.add_argument("--sleep-level", type=int, default=1, choices=[0, 1, 2], help="0: do not sleep while training")
parser.add_argument("--check", action="store_true", help="compare with a fresh engine on the saved weights")
parser.add_argument("--gpu-memory-utilization", type=float, default=0.4,
                    help="share of the GPU each engine may take (training needs the rest; --check runs two engines)")
parser.add_argument("--report", help="rank 0 writes a JSON summary here")
args = parser.parse_args()

prompts = ["Hello, my name is", "The president of the United States is", "The capital of France is",
           "The future of AI is"]
world_size = int(os.environ.get("WORLD_SIZE", "1"))
llm = LLM(model=args.model, tensor_parallel_size=world_size, distributed_executor_backend="external_launcher",
          device=args.device, dtype=args.dtype, seed=0, enable_sleep_mode=args.sleep_level > 0,
          gpu_memory_utilization=args.gpu_memory_utilization)
world = get_world_group()
rank = dist.get_rank(group=world.cpu_group)
device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" else torch.device("cpu")

# The trainer: the same checkpoint as a PyTorch model, under the names load_weights expects.
trainer = AutoModelForCausalLM.from_pretrained(args.model, dtype=args.dtype).to(device)
optimizer = torch.optim.SGD(trainer.parameters(), lr=args.lr)
tokenizer = llm.get_tokenizer()
rollout_params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=16, seed=0)

sync_seconds = []
for step in range(args.steps):
    rollouts = llm.generate(prompts, rollout_params, use_tqdm=False)
    batch = [list(o.prompt_token_ids) + list(o.outputs[0].token_ids) for o in rollouts]

    if args.sleep_level:
        llm.sleep(level=args.sleep_level)
    trainer.train()
    optimizer.zero_grad()
    loss = 0.0
    for ids in batch:  # causal-LM loss on the rollouts (a stand-in for a policy-gradient objective)
        x = torch.tensor([ids], device=device)
        loss = loss + trainer(input_ids=x, labels=x).loss / len(batch)
    loss.backward()
    for p in trainer.parameters():  # average the gradients over the ranks, on the engine's device group
        if p.grad is not None:
            dist.all_reduce(p.grad, group=world.device_group)
            p.grad /= world.world_size
    optimizer.step()
    if args.sleep_level:
        llm.wake_up()

    start = time.perf_counter()
    loaded = llm.llm_engine.model_executor.driver_worker.worker.model_runner.model.load_weights(
        trainer.named_parameters())
    sync_seconds.append(time.perf_counter() - start)
    if rank == 0:
        print(f"step {step}: loss {loss.item():.4f}, weight sync {sync_seconds[-1] * 1000:.1f} ms "
              f"({len(loaded)} tensors)", flush=True)

greedy = SamplingParams(temperature=0, max_tokens=16, logprobs=1, ignore_eos=True)
updated = llm.generate(prompts, greedy, use_tqdm=False)
for o in updated:
    if rank == 0:
        print(f"Prompt: {o.prompt!r}\nGenerated text: {o.outputs[0].text!r}")

summary = {"sync_seconds": sync_seconds, "texts": [o.outputs[0].text for o in updated]}
if args.check:
    # rank 0 writes the trained checkpoint; everyone builds a fresh engine from it.
    folder = [tempfile.mkdtemp(prefix="rlhf_colocate_") if rank == 0 else None]
    dist.broadcast_object_list(folder, src=0, group=world.cpu_group)
    if rank == 0:
        trainer.save_pretrained(folder[0])
        for name in os.listdir(args.model):
            if name.startswith(("tokenizer", "vocab", "merges", "special_tokens")):
                shutil.copy(os.path.join(args.model, name), folder[0])
    dist.barrier(group=world.cpu_group)
    fresh = LLM(model=folder[0], tensor_parallel_size=world_size, device=args.device, dtype=args.dtype, seed=0,
                gpu_memory_utilization=args.gpu_memory_utilization)
    reference = fresh.generate(prompts, greedy, use_tqdm=False)
    tokens_equal = all(a.outputs[0].token_ids == b.outputs[0].token_ids for a, b in zip(updated, reference))
    max_logprob_diff = max(
        abs(la[t].logprob - lb[t].logprob)
        for a, b in zip(updated, reference)
        for t, la, lb in zip(a.outputs[0].token_ids, a.outputs[0].logprobs, b.outputs[0].logprobs))
    summary.update(tokens_equal=tokens_equal, max_logprob_diff=max_logprob_diff)
    if rank == 0:
        print(f"check: fresh engine on the saved weights gives the same tokens: {tokens_equal}; "
              f"largest logprob difference {max_logprob_diff:.2e}", flush=True)
        shutil.rmtree(folder[0], ignore_errors=True)

if rank == 0 and args.report:
    with open(args.report, "w") as f:
        json.dump(summary, f)
dist.barrier(group=world.cpu_group)
