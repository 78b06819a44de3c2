"""vLLM's `vllm.utils` names that programs written for vLLM import: FlexibleArgumentParser."""

from shardlm.utils.argparse_utils import FlexibleArgumentParser

__all__ = ["FlexibleArgumentParser"]
