"""Tokenizer: the engine's tokenizer (what LLM.get_tokenizer() returns), with the everyday surface of a
Hugging Face tokenizer (encode, decode, batch_decode, apply_chat_template, the vocabulary and special ids)."""

import json

from shardlm import _checks


class Tokenizer:
    def __init__(self, engine):
        self._engine = engine

    def encode(self, text, add_special_tokens=True):
        text = _checks.as_str("Tokenizer.encode", "text", text)
        add = _checks.as_bool("Tokenizer.encode", "add_special_tokens", add_special_tokens)
        return self._engine.encode(text, add)

    def decode(self, token_ids, skip_special_tokens=True):
        ids = self._check_ids("Tokenizer.decode", token_ids)
        skip = _checks.as_bool("Tokenizer.decode", "skip_special_tokens", skip_special_tokens)
        return self._engine.decode(ids, skip).decode("utf-8", errors="replace")

    def __call__(self, text, add_special_tokens=True):
        """{"input_ids": [...]} for a str, {"input_ids": [[...], ...]} for a list of str."""
        if isinstance(text, (list, tuple)):
            return {"input_ids": [self.encode(t, add_special_tokens) for t in text]}
        return {"input_ids": self.encode(text, add_special_tokens)}

    def convert_ids_to_tokens(self, token_ids):
        """The raw vocabulary strings (e.g. 'Ġthe' for byte-level BPE); one str for one id."""
        if not isinstance(token_ids, (list, tuple)):
            [i] = self._check_ids("Tokenizer.convert_ids_to_tokens", [token_ids])
            return self._engine.id_to_token(i).decode("utf-8", errors="replace")
        ids = self._check_ids("Tokenizer.convert_ids_to_tokens", token_ids)
        return [self._engine.id_to_token(i).decode("utf-8", errors="replace") for i in ids]

    @property
    def vocab_size(self) -> int:
        return self._engine.tokenizer_vocab_size

    def __len__(self):
        return self._engine.tokenizer_vocab_size

    @property
    def bos_token_id(self):
        return self._engine.bos_token_id

    @property
    def eos_token_id(self):
        return self._engine.eos_token_id

    def batch_decode(self, sequences, skip_special_tokens=True):
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

    def get_vocab(self):
        """{token string: id} over the whole vocabulary (added tokens included)."""
        if getattr(self, "_vocab", None) is None:
            self._vocab = {}
            for i in range(self.vocab_size):
                self._vocab.setdefault(self._engine.id_to_token(i).decode("utf-8", errors="replace"), i)
        return dict(self._vocab)

    def convert_tokens_to_ids(self, tokens):
        """Ids of raw vocabulary strings; one id for one str. Unknown tokens give None (no unk token) as
        transformers' fast tokenizers give the unk id or None."""
        if getattr(self, "_vocab", None) is None:
            self.get_vocab()
        if isinstance(tokens, str):
            return self._vocab.get(tokens)
        return [self._vocab.get(t) for t in tokens]

    @property
    def all_special_ids(self):
        if getattr(self, "_special", None) is None:
            self._special = [i for i in range(self.vocab_size) if self._engine.is_special(i)]
        return list(self._special)

    def apply_chat_template(self, conversation, tools=None, documents=None, chat_template=None,
                            add_generation_prompt=False, continue_final_message=False, tokenize=True, **kwargs):
        """transformers' apply_chat_template: the conversation (or a list of conversations) rendered by the
        model's chat template (or `chat_template`, a template's text), byte for byte as transformers renders
        it; token ids (no special tokens added: the template writes them) unless tokenize=False. Extra keyword
        arguments are template variables (enable_thinking=..., ...)."""
        if documents is not None:
            kwargs["documents"] = documents
        for unsupported in ("return_dict", "return_tensors", "padding", "truncation", "max_length"):
            if kwargs.pop(unsupported, None):
                raise ValueError(f"Tokenizer.apply_chat_template: {unsupported} is not supported by shardlm")
        batched = isinstance(conversation, (list, tuple)) and conversation and all(
            isinstance(c, (list, tuple)) for c in conversation)
        conversations = [list(c) for c in conversation] if batched else [conversation]
        out = []
        for c in conversations:
            text = self._render(c, tools, chat_template, add_generation_prompt, continue_final_message, kwargs)
            out.append(self.encode(text, add_special_tokens=False) if tokenize else text)
        return out if batched else out[0]

    def _render(self, conversation, tools, chat_template, add_generation_prompt, continue_final_message, kwargs):
        owner = "apply_chat_template"
        if not isinstance(conversation, (list, tuple)):
            raise TypeError(f"{owner}: a conversation must be a list of messages, got {type(conversation).__name__}")
        messages = [_message(owner, i, m) for i, m in enumerate(conversation)]
        template = _checks.as_str(owner, "chat_template", chat_template, allow_none=True) or ""
        try:
            tools_json = "" if tools is None else json.dumps(list(tools), ensure_ascii=False)
            kwargs_json = json.dumps(dict(kwargs), ensure_ascii=False) if kwargs else ""
            conversation_json = json.dumps(messages, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{owner}: messages, tools and template variables must be JSON values: {e}") from None
        return self._engine.apply_chat_template(
            conversation_json, template, _checks.as_bool(owner, "add_generation_prompt", add_generation_prompt),
            _checks.as_bool(owner, "continue_final_message", continue_final_message), tools_json, kwargs_json,
        ).decode("utf-8", errors="replace")

    def _check_ids(self, owner, token_ids):
        ids = _checks.as_int_list(owner, "token_ids", token_ids)
        n = self._engine.tokenizer_vocab_size
        for i, t in enumerate(ids):
            if not 0 <= t < n:
                raise ValueError(f"{owner}: token_ids[{i}]={t} is outside the vocabulary [0, {n})")
        return ids

    def __repr__(self):
        return f"Tokenizer(vocab_size={self.vocab_size}, bos_token_id={self.bos_token_id}, eos_token_id={self.eos_token_id})"


def _message(owner, index, m):
    """A message as the template sees it: a dict whose text content parts are joined with newlines."""
    if not isinstance(m, dict):
        raise TypeError(f"{owner}: message {index} must be a dict with 'role' and 'content', got {type(m).__name__}")
    m = dict(m)
    content = m.get("content")
    if isinstance(content, (list, tuple)):
        texts = []
        for k, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"{owner}: message {index} content part {k}: only text parts "
                                 f"({{'type': 'text', 'text': ...}}) are supported, got {part!r}")
            texts.append(part["text"])
        m["content"] = "\n".join(texts)
    return m

