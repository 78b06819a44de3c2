"""FlexibleArgumentParser: vLLM's argparse.ArgumentParser that also reads long flags spelt with underscores
(`--max_model_len 64` is `--max-model-len 64`), as vLLM's examples and `shardlm` CLI accept."""

import argparse
import sys


def _dashes(arg):
    if not arg.startswith("--") or arg == "--":
        return arg
    name, sep, value = arg.partition("=")
    return name.replace("_", "-") + sep + value


class FlexibleArgumentParser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        if "--" in args:  # what follows a bare -- is positional and kept as written
            cut = args.index("--")
            args = [_dashes(a) for a in args[:cut]] + args[cut:]
        else:
            args = [_dashes(a) for a in args]
        return super().parse_known_args(args, namespace)
