"""Tokenizer: the engine's tokenizer (what LLM.get_tokenizer() returns), with the encode/decode surface of a
Hugging Face tokenizer."""

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

    def _check_ids(self, owner, token_ids):
        ids = _checks.as_int_list(owner, "token_ids", token_ids)
        n = self._engine.tokenizer_vocab_size
        for i, t in enumerate(ids):
            if not 0 <= t < n:
                raise ValueError(f"{owner}: token_ids[{i}]={t} is outside the vocabulary [0, {n})")
        return ids

    def __repr__(self):
        return f"Tokenizer(vocab_size={self.vocab_size}, bos_token_id={self.bos_token_id}, eos_token_id={self.eos_token_id})"
