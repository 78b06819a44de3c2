"""VllmRunner and HfRunner: the two runner classes of vLLM's tests/conftest.py, written for shardlm from their
documented behaviour (names, arguments and return shapes as vLLM's tests use them).

VllmRunner builds a shardlm.LLM; HfRunner runs the same checkpoint in Hugging Face transformers as the
reference. Model ids are mapped to local stand-ins (shardlm.testing.model_map). Output shapes:

    generate(prompts, sp)            -> [([prompt+output ids per sample], [prompt+output text per sample])]
    generate_greedy(prompts, n)      -> [(prompt+output ids, prompt+output text)]
    generate_w_logprobs(prompts, sp) -> [(output ids, output text, logprobs[, prompt_logprobs])]
    generate_beam_search(prompts, beam_width, max_tokens) -> [([ids per beam], [text per beam])]
"""

import gc
import json
import math
import os

from shardlm.testing import model_map

# vLLM's test dtype names -> torch's
_TORCH_DTYPES = {"half": "float16", "float16": "float16", "bfloat16": "bfloat16", "float": "float32",
                 "float32": "float32"}


def _model_limit(path):
    with open(os.path.join(path, "config.json")) as f:
        return json.load(f).get("max_position_embeddings")


def _prompt_dicts(prompts, images=None, videos=None, audios=None):
    if images is not None or videos is not None or audios is not None:
        raise ValueError("shardlm serves text models only: images, videos and audios are not supported")
    out = []
    for p in prompts:
        if isinstance(p, str):
            out.append({"prompt": p})
        elif isinstance(p, (list, tuple)):
            out.append({"prompt_token_ids": list(p)})
        else:
            raise TypeError(f"VllmRunner: a prompt must be a str or a list of token ids, got {type(p).__name__}")
    return out


class VllmRunner:
    """A shardlm.LLM with vLLM's test defaults: trust_remote_code=True, seed=0, max_model_len=1024 (or the
    model's own limit where that is smaller), block_size=16, enable_chunked_prefill=False, enforce_eager=False.
    Use as a context manager (`with vllm_runner(model, dtype="half") as m:`); `m.llm` (also `m.model`) is the LLM."""

    def __init__(self, model_name, runner="auto", convert="auto", tokenizer_name=None, tokenizer_mode="auto",
                 trust_remote_code=True, seed=0, max_model_len=1024, dtype="auto", disable_log_stats=True,
                 tensor_parallel_size=1, block_size=16, enable_chunked_prefill=False, swap_space=4,
                 enforce_eager=False, default_torch_num_threads=None, **kwargs):
        from shardlm import LLM

        for name, value in (("runner", runner), ("convert", convert), ("tokenizer_mode", tokenizer_mode)):
            if value != "auto":
                raise ValueError(f"VllmRunner: {name}={value!r} is not supported by shardlm (generation models only)")
        path = model_map.resolve(model_name)
        limit = _model_limit(path)
        if max_model_len == 1024 and limit is not None and limit < 1024:
            max_model_len = limit  # the runner's default, not the test's choice: fit small fixtures
        self.model_name = model_name
        self.llm = LLM(
            model=path,
            tokenizer=model_map.resolve(tokenizer_name) if tokenizer_name else None,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            seed=seed,
            swap_space=swap_space,
            enforce_eager=enforce_eager,
            disable_log_stats=disable_log_stats,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            block_size=block_size,
            enable_chunked_prefill=enable_chunked_prefill,
            **kwargs,
        )

    @property
    def model(self):  # the name older vLLM tests use for the LLM
        return self.llm

    def get_llm(self):
        return self.llm

    def get_inputs(self, prompts, images=None, videos=None, audios=None):
        return _prompt_dicts(prompts, images, videos, audios)

    def generate(self, prompts, sampling_params, images=None, videos=None, audios=None, return_logprobs=False,
                 **kwargs):
        req_outputs = self.llm.generate(self.get_inputs(prompts, images, videos, audios),
                                        sampling_params=sampling_params, **kwargs)
        outputs, logprobs = [], []
        for req in req_outputs:
            ids = [list(req.prompt_token_ids) + list(s.token_ids) for s in req.outputs]
            texts = [(req.prompt or "") + s.text for s in req.outputs]
            outputs.append((ids, texts))
            logprobs.append([lp for s in req.outputs for lp in (s.logprobs or [])])
        return (outputs, logprobs) if return_logprobs else outputs

    def generate_w_logprobs(self, prompts, sampling_params, images=None, audios=None, videos=None,
                            include_prompt_token_ids=False, **kwargs):
        req_outputs = self.llm.generate(self.get_inputs(prompts, images, videos, audios),
                                        sampling_params=sampling_params, **kwargs)
        results = []
        for req in req_outputs:
            last = req.outputs[-1]  # vLLM's runner reports the last sample of each request
            row = (list(last.token_ids), last.text, last.logprobs)
            if include_prompt_token_ids:
                row += (req.prompt_token_ids,)
            if sampling_params.prompt_logprobs is not None:
                row += (req.prompt_logprobs,)
            results.append(row)
        return results

    def generate_greedy(self, prompts, max_tokens, images=None, videos=None, audios=None, **kwargs):
        from shardlm import SamplingParams

        outputs = self.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_tokens), images, videos,
                                audios, **kwargs)
        return [(ids[0], texts[0]) for ids, texts in outputs]

    def generate_greedy_logprobs(self, prompts, max_tokens, num_logprobs, num_prompt_logprobs=None, images=None,
                                 audios=None, videos=None, stop_token_ids=None, stop=None, **kwargs):
        from shardlm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=num_logprobs,
                                prompt_logprobs=num_prompt_logprobs, stop_token_ids=stop_token_ids, stop=stop)
        return self.generate_w_logprobs(prompts, params, images=images, audios=audios, videos=videos, **kwargs)

    def generate_prompt_perplexity(self, prompts, mask=None):
        """exp(-mean log p(prompt token | earlier ones)) per prompt, skipping each mask prefix's tokens."""
        outputs = self.generate_greedy_logprobs(prompts, max_tokens=1, num_logprobs=None, num_prompt_logprobs=0)
        tokenizer = self.llm.get_tokenizer()
        skips = [len(tokenizer.encode(m)) for m in mask] if mask is not None else [0] * len(prompts)
        result = []
        for out, skip in zip(outputs, skips):
            prompt_logprobs = out[3]
            values = [next(iter(d.values())).logprob for d in prompt_logprobs[skip + 1:]]
            result.append(math.exp(-sum(values) / len(values)))
        return result

    def generate_beam_search(self, prompts, beam_width, max_tokens, images=None, videos=None, audios=None,
                             concurrency_limit=None):
        from shardlm import BeamSearchParams

        outputs = self.llm.beam_search(self.get_inputs(prompts, images, videos, audios),
                                       BeamSearchParams(beam_width=beam_width, max_tokens=max_tokens),
                                       concurrency_limit=concurrency_limit)
        return [([s.tokens for s in o.sequences], [s.text for s in o.sequences]) for o in outputs]

    def apply_model(self, func):
        return self.llm.apply_model(func)

    def collective_rpc(self, *args, **kwargs):
        return self.llm.collective_rpc(*args, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        del self.llm
        gc.collect()


class HfRunner:
    """The checkpoint in transformers (AutoModelForCausalLM), the reference vLLM's tests compare with. On a
    CPU it computes in float32 whatever `dtype` says (shardlm's CPU engine computes in float32 too, and
    transformers' float16 CPU kernels are slow or missing); on CUDA it uses `dtype`."""

    def __init__(self, model_name, dtype="auto", *, model_kwargs=None, trust_remote_code=True,
                 is_sentence_transformer=False, is_cross_encoder=False, skip_tokenizer_init=False, auto_cls=None,
                 default_torch_num_threads=None):
        import torch
        import transformers

        if is_sentence_transformer or is_cross_encoder:
            raise ValueError("HfRunner: sentence-transformer and cross-encoder models are not supported by shardlm")
        self.model_name = model_name
        path = model_map.resolve(model_name)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu" or dtype == "auto":
            self.dtype = torch.float32 if self.device == "cpu" else "auto"
        else:
            self.dtype = getattr(torch, _TORCH_DTYPES[dtype])
        cls = auto_cls or transformers.AutoModelForCausalLM
        kwargs = dict(model_kwargs or {})
        kwargs.setdefault("dtype", self.dtype)
        self.config = transformers.AutoConfig.from_pretrained(path)
        self.model = cls.from_pretrained(path, **kwargs).to(self.device).eval()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        self.processor = self.tokenizer

    def get_inputs(self, prompts, images=None, videos=None, audios=None):
        import torch

        _prompt_dicts(prompts, images, videos, audios)  # the same checks as VllmRunner
        inputs = []
        for p in prompts:
            if isinstance(p, str):
                inputs.append(dict(self.tokenizer(p, return_tensors="pt")))
            else:
                inputs.append({"input_ids": torch.tensor([list(p)], dtype=torch.long)})
        return inputs

    def _on_device(self, inputs):
        return {k: v.to(self.device) for k, v in inputs.items()}

    def generate(self, prompts, images=None, videos=None, audios=None, **kwargs):
        import torch

        outputs = []
        for inputs in self.get_inputs(prompts, images, videos, audios):
            with torch.no_grad():
                ids = self.model.generate(**self._on_device(inputs), use_cache=True, **kwargs)
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            outputs.append((ids.cpu().tolist(), texts))
        return outputs

    def generate_greedy(self, prompts, max_tokens, images=None, videos=None, audios=None, **kwargs):
        outputs = self.generate(prompts, images, videos, audios, do_sample=False, max_new_tokens=max_tokens, **kwargs)
        return [(ids[0], texts[0]) for ids, texts in outputs]

    def generate_beam_search(self, prompts, beam_width, max_tokens, images=None, videos=None, audios=None):
        outputs = self.generate(prompts, images, videos, audios, do_sample=False, max_new_tokens=max_tokens,
                                num_beams=beam_width, num_return_sequences=beam_width)
        pad = self.tokenizer.pad_token_id
        return [([[t for t in seq if t != pad] for seq in ids], texts) for ids, texts in outputs]

    def generate_greedy_logprobs(self, prompts, max_tokens, images=None, videos=None, audios=None, **kwargs):
        """Per prompt, one float32 log-softmax tensor per greedy step: the first [prompt_len, vocab] (every prompt
        position, so [0][i] scores prompt token i + 1), then [1, vocab] for each later step. Computed by one
        forward pass over the prompt and the greedy tokens."""
        import torch

        results = []
        for (ids, _), inputs in zip(self.generate(prompts, images, videos, audios, do_sample=False,
                                                  max_new_tokens=max_tokens, **kwargs), self.get_inputs(prompts)):
            prompt_len = inputs["input_ids"].shape[1]
            sequence = torch.tensor([ids[0][:-1]], device=self.device)
            with torch.no_grad():
                logprobs = torch.log_softmax(self.model(sequence).logits[0].float(), dim=-1).cpu()
            steps = len(ids[0]) - prompt_len
            results.append([logprobs[:prompt_len]] + [logprobs[prompt_len + i:prompt_len + i + 1]
                                                        for i in range(steps - 1)])
        return results

    def generate_greedy_logprobs_limit(self, prompts, max_tokens, num_logprobs, images=None, audios=None,
                                       videos=None, use_cache=True, **kwargs):
        """[(output ids, output text, [{token id: logprob} of the top num_logprobs per step])], greedy."""
        import torch

        results = []
        for inputs in self.get_inputs(prompts, images, videos, audios):
            with torch.no_grad():
                out = self.model.generate(**self._on_device(inputs), use_cache=use_cache, do_sample=False,
                                          max_new_tokens=max_tokens, output_logits=True, return_dict_in_generate=True,
                                          **kwargs)
            steps = []
            for logits in out.logits:
                top = torch.log_softmax(logits[0].float(), dim=-1).topk(num_logprobs)
                steps.append({int(i): float(v) for i, v in zip(top.indices, top.values)})
            ids = out.sequences[0][-len(steps):].tolist()
            results.append((ids, self.tokenizer.decode(ids), steps))
        return results

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        del self.model
        gc.collect()
