"""Prompt shapes accepted by LLM.generate, as vllm.inputs names them."""

from typing import List, TypedDict, Union


class TextPrompt(TypedDict):
    prompt: str


class TokensPrompt(TypedDict):
    prompt_token_ids: List[int]


PromptType = Union[str, TextPrompt, TokensPrompt]
