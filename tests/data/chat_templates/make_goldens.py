#!/usr/bin/env python3
"""Writes goldens.json beside this script: what Hugging Face transformers renders for

  * every chat template here (*.jinja) on a set of conversations, through the real
    PreTrainedTokenizerBase.apply_chat_template(..., tokenize=False) of a stand-in tokenizer that carries
    the model's special tokens, and
  * small Jinja snippets, through the jinja2 environment transformers compiles chat templates with
    (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now, transformers' tojson, the
    immutable sandbox).

tests/tokenizer/chat_template_test.cpp renders the same inputs with shardlm's renderer and compares bytes.
The goldens come from transformers, never from shardlm. A case that transformers rejects records the
exception instead of an output, and shardlm must throw too. strftime_now() sees FIXED_NOW here; the C++
test passes the same moment as Unix seconds.

Run from the repository root:   .venv/bin/python tests/data/chat_templates/make_goldens.py
"""
import datetime as _datetime
import json
import os
import sys

import jinja2
import transformers
import transformers.utils.chat_template_utils as ctu
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_NOW = _datetime.datetime(2024, 9, 3, 14, 5, 9)  # 1725372309 as Unix seconds in UTC
FIXED_NOW_UNIX = 1725372309


class _FixedDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FixedDatetime  # strftime_now() reads the module's datetime

# Each template file, the model it comes from (see README.md) and the special tokens its tokenizer sets.
TEMPLATES = {
    "llama-2-chat.jinja": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "llama-3.2-instruct.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.3-instruct.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-7b-instruct-v0.3.jinja": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "qwen2.5-instruct.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "qwen3.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "gemma-2-it.jinja": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "phi-3.5-mini-instruct.jinja": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>",
                                    "pad_token": "<|endoftext|>"},
    "hermes-3-llama-3.1-tool_use.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "deepseek-r1-distill-qwen.jinja": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                                       "pad_token": "<｜end▁of▁sentence｜>"},
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city, e.g. \"Paris\"."},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_flights",
            "description": "Search flights between two airports.",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string", "description": "IATA code of the departure airport"},
                    "max_stops": {"type": "integer", "description": "Most stops allowed"},
                    "flexible": {"type": "boolean", "description": "Whether dates may move ± 1 day"},
                    "price_limit": {"type": "number", "description": "Highest price in €"},
                    "airlines": {"type": "array", "items": {"type": "string"}, "description": "Preferred airlines"},
                    "extras": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "Extra options"},
                },
                "required": ["origin"],
            },
        },
    },
]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
UNICODE_TEXT = "Héllo \"wörld\" — it's 日本語 😀\\n\tand a\nnew line  "

CASES = [
    {"name": "single_user", "messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
    {"name": "single_user_no_generation_prompt", "messages": [{"role": "user", "content": "Hello!"}]},
    {"name": "system_multi_turn", "add_generation_prompt": True, "messages": [
        SYSTEM,
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "2 + 2 = 4."},
        {"role": "user", "content": "And times 3?"},
    ]},
    {"name": "ends_with_assistant", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
    ]},
    {"name": "continue_final_message", "continue_final_message": True, "messages": [
        {"role": "user", "content": "Write a haiku."},
        {"role": "assistant", "content": "Autumn moonlight -"},
    ]},
    {"name": "unicode_and_quotes", "add_generation_prompt": True, "messages": [
        SYSTEM,
        {"role": "user", "content": UNICODE_TEXT},
        {"role": "assistant", "content": "  " + UNICODE_TEXT},
        {"role": "user", "content": "{{ not a template }} {% raw %} <|im_end|>"},
    ]},
    {"name": "tools_available", "add_generation_prompt": True, "tools": TOOLS, "messages": [
        SYSTEM,
        {"role": "user", "content": "What's the weather in Paris?"},
    ]},
    {"name": "tools_no_system", "add_generation_prompt": True, "tools": TOOLS, "messages": [
        {"role": "user", "content": "Find flights from CDG."},
    ]},
    {"name": "tool_call_round_trip", "add_generation_prompt": True, "tools": TOOLS, "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call12345", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 18.5}"},
        {"role": "assistant", "content": "It is 18.5 °C in Paris."},
        {"role": "user", "content": "Thanks!"},
    ]},
    {"name": "tool_call_string_arguments", "add_generation_prompt": True, "tools": TOOLS, "messages": [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            {"id": "callOslo1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
            {"id": "callRome2", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "callOslo1", "content": "-3"},
        {"role": "tool", "tool_call_id": "callRome2", "content": "21"},
    ]},
    {"name": "builtin_tool_call", "add_generation_prompt": True,
     "kwargs": {"builtin_tools": ["brave_search", "code_interpreter"], "date_string": "17 Dec 2024"},
     "messages": [
         SYSTEM,
         {"role": "user", "content": "Search for the news."},
         {"role": "assistant", "tool_calls": [
             {"id": "brave0001", "type": "function",
              "function": {"name": "brave_search", "arguments": {"query": "news today"}}}]},
         {"role": "ipython", "content": "Nothing happened."},
     ]},
    {"name": "tools_in_system_prompt", "add_generation_prompt": True, "tools": TOOLS,
     "kwargs": {"tools_in_user_message": False, "date_string": "01 Jan 2025"},
     "messages": [SYSTEM, {"role": "user", "content": "Weather?"}]},
    {"name": "thinking_disabled", "add_generation_prompt": True, "kwargs": {"enable_thinking": False},
     "messages": [{"role": "user", "content": "Quick: capital of Italy?"}]},
    {"name": "thinking_enabled", "add_generation_prompt": True, "kwargs": {"enable_thinking": True},
     "messages": [{"role": "user", "content": "Capital of Italy?"}]},
    {"name": "reasoning_in_history", "add_generation_prompt": True, "kwargs": {"enable_thinking": True},
     "messages": [
         {"role": "user", "content": "Capital of Italy?"},
         {"role": "assistant", "content": "Rome.", "reasoning_content": "The user asks about Italy.\n"},
         {"role": "user", "content": "And of France?"},
         {"role": "assistant", "content": "<think>\nFrance: Paris.\n</think>\n\nParis."},
     ]},
    {"name": "reasoning_last_turn", "kwargs": {"enable_thinking": True}, "messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning": "Simple sum."},
    ]},
    {"name": "roles_not_alternating", "add_generation_prompt": True, "messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ]},
    {"name": "multimodal_content_list", "add_generation_prompt": True, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Describe this."}, {"type": "image"}]},
    ]},
    {"name": "long_conversation", "add_generation_prompt": True, "messages": [SYSTEM] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Turn {i}: " + "lorem ipsum " * (i % 5)}
        for i in range(21)
    ]},
]


def _stand_in_tokenizer(template, special_tokens):
    vocab = {"[UNK]": 0}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="[UNK]")),
                                   chat_template=template, **special_tokens)


def _error(e):
    return {"type": type(e).__name__, "message": str(e)}


def render_case(template, special_tokens, case):
    tok = _stand_in_tokenizer(template, special_tokens)
    try:
        out = tok.apply_chat_template(
            case["messages"], tools=case.get("tools"), documents=case.get("documents"), tokenize=False,
            add_generation_prompt=case.get("add_generation_prompt", False),
            continue_final_message=case.get("continue_final_message", False), **case.get("kwargs", {}))
        return {"output": out}
    except Exception as e:  # noqa: BLE001 - every rejection is a golden too
        return {"error": _error(e)}


USERS = [{"name": "bob", "age": 42, "admin": True}, {"name": "alice", "age": 31, "admin": False},
         {"name": "Carol", "age": 31, "admin": True}]
JSONY = {"a": [1, 2.5, None, True, "é\n\"\\\u0001\u007f\u2028😀"], "b": {}, "c": [], "d": {"nested": [{"x": 1e20}]}}

# (name, template, context). Outputs are jinja2's, through transformers' environment.
SNIPPETS = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("ws_minus", "a {{- ' b ' -}} c", {}),
    ("ws_lstrip_trim", "  {% if true %}\n  x\n  {% endif %}\n  y", {}),
    ("ws_block_lines", "a\n{% if true %}\nb\n{% endif %}\nc", {}),
    ("ws_plus_lstrip", "a\n  {%+ if true %}b{% endif %}", {}),
    ("ws_plus_trim", "{% if true +%}\nb{% endif %}", {}),
    ("ws_comments", "x {# comment #}\ny|x\n  {# c #}\ny|x {#- c -#} y|x\n{#- c #}\n  y", {}),
    ("ws_var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("ws_crlf", "line1\r\nline2\r{{ 'x' }}\r\n", {}),
    ("ws_raw", "{% raw %}{{ not parsed }}{% endraw %}|a\n  {% raw %}\n  x {{ y }}\n  {% endraw %}\nb", {}),
    ("ws_var_no_lstrip", "  {{ 'v' }}  ", {}),
    ("ws_minus_both", "{%- if true -%}  \n  x  \n  {%- endif -%}  y", {}),
    ("ws_trim_only_newline", "a{% if true %} \n b{% endif %}", {}),
    ("ws_tabs_loop", "\t{% for i in [1,2] %}\n\t{{ i }}\n\t{% endfor %}\n", {}),
    ("ws_unicode_space", "a\u3000{%- if true %}b{% endif %}", {}),
    ("ws_mid_line_block", "text {% if true %}kept {% endif %}end", {}),
    ("ws_trailing_newlines", "x\n\n", {}),
    ("ws_comment_block_lines", "{# one\n two #}\n{% set x = 1 %}\n{{ x }}", {}),
    # literals and printing
    ("lit_numbers", "{{ 1 }}|{{ 1.5 }}|{{ 1e3 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 2.0 }}|{{ 1e100 }}"
                    "|{{ 0.1 }}|{{ 1/3 }}|{{ -0.0 }}|{{ 3.14e-7 }}|{{ 123456789012345678 }}|{{ 1e16 }}|{{ 1e15 }}"
                    "|{{ 0.0001 }}|{{ 0.00001 }}", {}),
    ("lit_constants", "{{ true }}|{{ True }}|{{ none }}|{{ None }}|{{ false }}", {}),
    ("lit_containers", "{{ [1, 'a', none, true, 1.5, {'k': [2, (3,)]}] }}|{{ {'a': 1, 'b': 'x'} }}|{{ {} }}|{{ [] }}"
                       "|{{ () }}|{{ (1,) }}|{{ (1, 2) }}", {}),
    ("lit_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\there', 'nl\\n', 'back\\\\slash', 'é',"
                        " '\\x07', '\\u2028', '😀', '\\x7f', '\\xa0'] }}", {}),
    ("lit_escapes", "{{ 'a\\tb' }}|{{ \"q\\\"q\" }}|{{ '\\x41\\u00e9\\U0001F600' }}|{{ '\\101' }}|{{ 'no\\qescape' }}"
                    "|{{ 'con' 'cat' }}|{{ 'é\\é' }}", {}),
    ("lit_concat", "{{ 'x' ~ 1 ~ none ~ true ~ [1] ~ foo ~ 2.50 }}", {}),
    ("lit_context_values", "{{ i }}|{{ f }}|{{ b }}|{{ n }}|{{ s }}|{{ l }}|{{ d }}",
     {"i": 7, "f": 2.5, "b": False, "n": None, "s": "str", "l": [1, "two", None], "d": {"k": "v", "n": [True]}}),
    ("lit_print_tuple", "{{ 1, 2 }}|{% print 'p', 3 %}", {}),
    # arithmetic
    ("arith_basic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}"
                    " {{ 7 / 2 }} {{ 6 / 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 2.0 }} {{ true + 1 }} {{ 2 * 3.5 }}"
                    " {{ 10 - 2 - 3 }} {{ 0.1 + 0.2 }}", {}),
    ("arith_precedence", "{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ (-2) ** 2 }}|{{ - 3 | abs }}|{{ 1 + 2 * 3 }}"
                         "|{{ (1 + 2) * 3 }}|{{ 1 ~ (2 + 3) }}|{{ -1|abs }}", {}),
    ("err_concat_precedence", "{{ 1 + 2 ~ 3 * 2 }}", {}),
    ("arith_sequences", "{{ 'ab' * 3 }}|{{ 3 * 'ab' }}|{{ [1, 2] * 2 }}|{{ [1] + [2] }}|{{ 'a' + 'b' }}"
                        "|{{ 'x' * 0 }}|{{ 'x' * -1 }}|{{ (1,) + (2,) }}", {}),
    ("arith_percent_format", "{{ '%s and %s' % ('a', 1) }}|{{ '%d%%' % 50 }}|{{ '%.2f' % 3.14159 }}"
                             "|{{ '%5s|%-5s|' % ('a', 'b') }}|{{ '%(x)s' % {'x': 1} }}|{{ '%r' % 'q' }}"
                             "|{{ '%03d' % 7 }}|{{ '%x' % 255 }}|{{ '%s' % [1, 2] }}", {}),
    ("arith_str_format", "{{ '{} {}'.format(1, 'a') }}|{{ '{0}{1}{0}'.format('a', 'b') }}|{{ '{x}!'.format(x=5) }}"
                         "|{{ '{:>5}|{:<4}|{:^7}|'.format('a', 'b', 'c') }}|{{ '{:.2f}'.format(2.5) }}"
                         "|{{ '{{}}'.format() }}|{{ '{!r}'.format('s') }}|{{ '{:*^9}'.format('mid') }}", {}),
    ("err_add_int_str", "{{ 1 + 'a' }}", {}),
    ("err_add_str_int", "{{ 'a' + 1 }}", {}),
    ("err_div_zero", "{{ 1 / 0 }}", {}),
    ("err_floordiv_zero", "{{ 1 // 0 }}", {}),
    ("err_list_plus_tuple", "{{ [1] + (2,) }}", {}),
    ("err_str_minus", "{{ 'a' - 'b' }}", {}),
    ("err_neg_str", "{{ -'a' }}", {}),
    # comparisons and logic
    ("cmp_basic", "{{ 1 < 2 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 5 }}{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}"
                  "{{ [1, 2] < [1, 3] }}{{ (1, 2) == [1, 2] }}{{ none == none }}{{ 'a' != 'b' }}{{ 2 >= 2 }}"
                  "{{ 2 <= 1 }}{{ {'a': 1} == {'a': 1.0} }}{{ 'B' < 'a' }}", {}),
    ("cmp_in", "{{ 'ab' in 'xaby' }}{{ 1 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in {'k': 1} }}{{ 3 in range(5) }}"
               "{{ 'a' in foo }}{{ 1.0 in [1] }}{{ (1, 2) in [(1, 2)] }}", {}),
    ("logic", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or none }}|{{ not 0 }}|{{ not not 'x' }}"
              "|{{ 1 if false }}|{{ 1 if false else 2 }}|{{ 'a' if 'b' if false else 'c' }}|{{ [] or {} }}", {}),
    ("err_lt_int_str", "{{ 1 < 'a' }}", {}),
    ("err_in_int_str", "{{ 1 in 'abc' }}", {}),
    ("err_undefined_lt", "{{ foo < 1 }}", {}),
    # undefined
    ("undef_soft", "[{{ foo }}]{{ foo is defined }}{{ foo is undefined }}{{ foo is none }}{{ not foo }}{{ foo|length }}"
                   "{{ foo|default('d') }}{{ foo ~ 'x' }}{{ foo == foo }}[{{ foo|string }}]{{ foo|list }}[{{ foo|join }}]"
                   "[{{ foo|trim }}]{{ foo is iterable }}{{ foo is sequence }}{{ foo is mapping }}{{ foo is string }}"
                   "{{ foo|items|list }}[{{ foo|first }}]{{ foo == none }}", {}),
    ("undef_loop", "{% for x in foo %}a{% else %}empty{% endfor %}", {}),
    ("undef_dict_key", "[{{ d.x }}]{{ d.x is defined }}{{ d['x'] is defined }}{{ d.get('x') }}{{ d.get('x', 5) }}"
                       "{{ d.x is none }}", {"d": {}}),
    ("undef_other_attrs", "[{{ s.x }}][{{ n.x }}][{{ none.x }}][{{ l[5] }}]{{ l[5] is defined }}[{{ s[10] }}]",
     {"s": "abc", "n": 5, "l": [1]}),
    ("undef_default_chain", "{{ (foo|default({})).x is defined }}|{{ (foo or {}).get('k', 'dflt') }}", {}),
    ("err_undef_attr", "{{ foo.bar }}", {}),
    ("err_undef_item", "{{ foo['x'] }}", {}),
    ("err_undef_add", "{{ foo + 1 }}", {}),
    ("err_undef_call", "{{ foo() }}", {}),
    ("err_undef_nested", "{{ d.x.y }}", {"d": {}}),
    ("err_undef_tojson", "{{ foo|tojson }}", {}),
    ("err_undef_int", "{{ foo|int }}", {}),
    ("undef_lower", "[{{ foo|lower }}][{{ foo|upper }}][{{ foo|capitalize }}][{{ foo|title }}]", {}),
    ("err_undef_method", "{{ d.x.strip() }}", {"d": {}}),
    # indexing and slicing
    ("idx_list", "{{ l[0] }}{{ l[-1] }}{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[::2] }}{{ l[1:3] }}{{ l[5:] }}"
                 "{{ l[-10:2] }}{{ l[3:0:-1] }}{{ l.1 }}", {"l": [1, 2, 3, 4]}),
    ("idx_str", "{{ s[0] }}{{ s[-1] }}{{ s[1:3] }}{{ s[::-1] }}|{{ s|length }}|{{ s[7:] }}", {"s": "héllo wörld 日本"}),
    ("idx_dict", "{{ d['a'] }}{{ d.a }}{{ d['keys'] }}{{ d.keys is defined }}{{ d['0'] }}",
     {"d": {"a": 1, "keys": "K", "0": "zero"}}),
    ("idx_range", "{{ range(5)[1:3]|list }}{{ range(10)[-1] }}{{ range(3) }}{{ range(1, 10, 3) }}{{ range(5)[::2] }}", {}),
    ("idx_tuple", "{% set t = (1, 2, 3) %}{{ t[0] }}{{ t[1:] }}{{ t|length }}", {}),
    # loops
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                  "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }};{% endfor %}", {}),
    ("loop_neighbours", "{% for x in [1,2,3] %}{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.cycle('a','b') }}"
                        "/{{ loop.previtem is defined }};{% endfor %}", {}),
    ("loop_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("loop_else", "{% for x in [] %}a{% else %}E{% endfor %}|{% for x in [0] if x %}a{% else %}E2{% endfor %}", {}),
    ("loop_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d|items %}{{ k }}{{ v }}"
                    "{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for a, (b, c) in [(1, (2, 3))] %}{{ a }}{{ b }}"
                    "{{ c }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("loop_break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}"
                            "{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("loop_nested", "{% for i in [1,2] %}{% for j in 'ab' %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}"
                    "{{ loop.index }};{% endfor %}", {}),
    ("loop_dict_filter", "{% for k, v in d.items() if v > 1 %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2, "z": 3}}),
    ("err_loop_none", "{% for x in none %}{% endfor %}", {}),
    ("err_loop_int", "{% for x in 5 %}{% endfor %}", {}),
    # scoping
    ("scope_loop_set", "{% set x = 'o' %}{% for i in range(3) %}{{ x }}{% set x = x ~ i %}{{ x }} {% endfor %}|{{ x }}", {}),
    ("scope_loop_leak", "{% for i in range(3) %}{% set y = i %}{% endfor %}[{{ y }}][{{ i }}]", {}),
    ("scope_if_leaks", "{% if true %}{% set z = 5 %}{% endif %}{{ z }}", {}),
    ("scope_override_context", "{% set messages = messages[1:] %}{{ messages|length }}", {"messages": [1, 2, 3]}),
    ("ns_counter", "{% set ns = namespace(a=1, b=[]) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}"
                   "{{ ns.a }}{{ ns.b }}", {}),
    ("ns_empty", "{% set ns = namespace() %}{% set ns.x = 'y' %}{{ ns.x }}{{ ns.missing is defined }}{{ ns }}", {}),
    ("ns_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}", {}),
    ("err_set_attr_non_ns", "{% set x = 5 %}{% set x.y = 1 %}", {}),
    ("err_ns_underscore", "{% set ns = namespace(_x=1) %}", {}),
    ("err_ns_set_underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}", {}),
    ("err_unpack_short", "{% set a, b = [1] %}", {}),
    ("err_unpack_long", "{% set a, b = [1, 2, 3] %}", {}),
    ("set_block", "{% set x %}hello {{ 1 + 1 }}{% endset %}[{{ x }}]{% set y | upper | trim %}  hi  {% endset %}[{{ y }}]",
     {}),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("filter_block", "{% filter upper %}abc {{ 'd' }}{% endfilter %}|{% filter replace('a', 'o') | upper %}banana"
                     "{% endfilter %}", {}),
    # macros
    ("macro_defaults", "{% macro f(a, b=2, c='x') %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ f(1) }}|{{ f(1, c=3) }}"
                       "|{{ f(1, 2, 3) }}|{{ f(b=5, a=0) }}", {}),
    ("macro_missing_arg", "{% macro f(a) %}[{{ a }}]{{ a is defined }}{% endmacro %}{{ f() }}", {}),
    ("macro_varargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, z=3) }}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1)|int) }}{% endif %}"
                        "{% endmacro %}{{ fact(10) }}", {}),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                     "{% call wrap('b') %}in{% endcall %}", {}),
    ("macro_caller_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
                          "{% call(x) each([1,2]) %}<{{ x }}>{% endcall %}", {}),
    ("macro_late_binding", "{% set a = 1 %}{% macro m() %}{{ a }}{% endmacro %}{% set a = 2 %}{{ m() }}", {}),
    ("macro_no_caller_scope", "{% macro m() %}[{{ i }}]{% endmacro %}{% for i in [1] %}{{ m() }}{% endfor %}", {}),
    ("macro_whitespace", "{%- macro m(x) -%}\n  <{{ x }}>\n{%- endmacro -%}\n{{ m(1) }}{{ m(2) }}", {}),
    ("macro_repr", "{% macro f() %}{% endmacro %}{{ f }}|{{ f is callable }}", {}),
    ("macro_returns_string", "{% macro n() %}42{% endmacro %}{{ n() ~ 1 }}|{{ n()|int + 1 }}|{{ n() is string }}", {}),
    ("err_macro_too_many", "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}", {}),
    ("err_macro_bad_kwarg", "{% macro f(a) %}{% endmacro %}{{ f(z=1) }}", {}),
    # filters
    ("filt_strings", "{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}"
                     "|{{ 'hello world'|title }}|{{ 'hELLO wORLD'|capitalize }}|{{ \"they're bill's-friends (from"
                     " the UK)\"|title }}|{{ 'ÉTÉ'|lower }}", {}),
    ("filt_sort", "{{ [3,1,2]|sort }}|{{ [3,1,2]|sort(reverse=true) }}|{{ ['b','A','c']|sort }}"
                  "|{{ ['b','A','c']|sort(case_sensitive=true) }}|{{ users|sort(attribute='age')|map(attribute='name')"
                  "|join(',') }}|{{ users|sort(attribute='age,name')|map(attribute='name')|list }}", {"users": USERS}),
    ("filt_seq", "{{ [1,2,2,'a','A']|unique|list }}|{{ [1,2,3]|reverse|list }}|{{ 'abc'|reverse }}|{{ [1,2,3]|first }}"
                 "|{{ [1,2,3]|last }}|{{ 'abc'|first }}|{{ []|first is defined }}|{{ [1,2,3]|length }}"
                 "|{{ 'héllo'|length }}|{{ {'a':1}|count }}", {}),
    ("filt_join_map", "{{ [1,2,3]|join(', ') }}|{{ users|join(', ', attribute='name') }}|{{ [1,[2]]|join }}"
                      "|{{ users|map(attribute='name')|join('/') }}|{{ users|map(attribute='missing', default='?')|list }}"
                      "|{{ ['a','b']|map('upper')|list }}|{{ [1.6, 2.4]|map('round')|list }}"
                      "|{{ users|map(attribute='name')|map('replace', 'o', '0')|list }}", {"users": USERS}),
    ("filt_select", "{{ users|selectattr('admin')|map(attribute='name')|list }}|{{ users|rejectattr('admin')"
                    "|map(attribute='name')|list }}|{{ users|selectattr('age', 'gt', 35)|map(attribute='name')|list }}"
                    "|{{ users|selectattr('name', 'equalto', 'bob')|list|length }}|{{ [1,2,3,4]|select('odd')|list }}"
                    "|{{ [1,2,3,4]|reject('even')|list }}|{{ [0,1,'',none,'a']|select|list }}"
                    "|{{ [1,2,3]|select('in', [2,3])|list }}|{{ users|selectattr('role', 'undefined')|list|length }}",
     {"users": USERS}),
    ("filt_items_dictsort", "{{ d|items|list }}|{{ d|dictsort }}|{{ d|dictsort(by='value', reverse=true) }}",
     {"d": {"b": 2, "a": 3, "C": 1}}),
    ("filt_replace", "{{ 'a,b'|replace(',', ';') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'xy'|replace('', '-') }}"
                     "|{{ 5|replace('5', 'five') }}", {}),
    ("filt_numbers", "{{ '3'|int + 1 }}|{{ '3.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ '0x1A'|int(0, 16) }}"
                     "|{{ 3.9|int }}|{{ '2.5'|float }}|{{ 'a'|float }}|{{ 2|float }}|{{ true|int }}|{{ ' 12 '|int }}"
                     "|{{ '1_000'|int }}|{{ '-5'|int }}", {}),
    ("filt_round_abs", "{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 7|round }}|{{ 1.55|round(1, 'floor') }}"
                       "|{{ 1.51|round(1, 'ceil') }}|{{ -3|abs }}|{{ -2.5|abs }}|{{ 1234.5|round(-2) }}", {}),
    ("filt_indent", "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }}"
                    "|{{ 'x'|indent(first=true) }}|{{ 'a\nb\n'|indent(1) }}", {}),
    ("filt_escape", "{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape }}|{{ '<i>'|safe }}|{{ 5|string }}"
                    "|{{ [1]|string }}|{{ none|e }}", {}),
    ("filt_aggregates", "{{ 'one two  three'|wordcount }}|{{ [1,2,3]|sum }}|{{ users|sum(attribute='age') }}"
                        "|{{ [3,1,2]|max }}|{{ [3,1,2]|min }}|{{ (users|max(attribute='age')).name }}"
                        "|{{ ['b','A']|max }}|{{ []|max is defined }}|{{ [0.5, 1]|sum(start=10) }}", {"users": USERS}),
    ("filt_misc", "{{ 'hi %s'|format('you') }}|{{ '%s-%s'|format(1, 2) }}|{{ 'abc'|center(9) }}"
                  "|{{ 'hello world foo bar'|truncate(11) }}|{{ 'hello world foo bar baz qux'|truncate(15, true) }}"
                  "|{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3]|batch(2, 0)|list }}", {}),
    ("filt_groupby", "{% for g, items in users|groupby('admin') %}{{ g }}:{{ items|map(attribute='name')|join(',') }};"
                     "{% endfor %}{% for grp in users|groupby('age') %}{{ grp.grouper }}={{ grp.list|length }};"
                     "{% endfor %}", {"users": USERS}),
    ("filt_default", "{{ 'x'|d('y') }}|{{ none|d('y') }}|{{ ''|d('y', true) }}|{{ 0|default(5, true) }}"
                     "|{{ foo|default }}|{{ false|default('f') }}", {}),
    ("filt_list", "{{ [1,2]|list }}|{{ 'ab'|list }}|{{ {'a':1,'b':2}|list }}|{{ range(3)|list }}|{{ (1,2)|list }}", {}),
    ("filt_attr", "{{ d|attr('a') }}|{{ d|attr('get') is defined }}",
     {"d": {"a": 1}}),
    ("err_filter_unknown", "{{ 1|nosuchfilter }}", {}),
    ("err_filter_len_int", "{{ 5|length }}", {}),
    ("err_filter_items_int", "{{ 1|items|list }}", {}),
    ("err_sort_mixed", "{{ [1, 'a']|sort }}", {}),
    # tojson (transformers' own filter)
    ("json_default", "{{ x|tojson }}", {"x": JSONY}),
    ("json_indent2", "{{ x|tojson(indent=2) }}", {"x": JSONY}),
    ("json_indent4", "{{ x|tojson(indent=4) }}", {"x": JSONY}),
    ("json_indent_tab", "{{ x|tojson(indent='\\t') }}", {"x": JSONY}),
    ("json_indent0", "{{ x|tojson(indent=0) }}", {"x": JSONY}),
    ("json_separators", "{{ x|tojson(separators=(',', ':')) }}|{{ x|tojson(indent=1, separators=(';', '=')) }}",
     {"x": JSONY}),
    ("json_sort_keys", "{{ x|tojson(sort_keys=true) }}|{{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true) }}",
     {"x": JSONY}),
    ("json_ensure_ascii", "{{ x|tojson(ensure_ascii=true) }}|{{ 'é😀'|tojson(true) }}", {"x": JSONY}),
    ("json_scalars", "{{ 1.0|tojson }}{{ 1e20|tojson }}{{ 'a'|tojson }}{{ none|tojson }}{{ (1, 'a')|tojson }}"
                     "{{ {1: 'a', true: 'b', none: 'c', 2.5: 'd', false: 'e'}|tojson }}{{ -0.0|tojson }}"
                     "{{ 12345678901234|tojson }}", {}),
    ("json_tools", "{% for t in tools %}{{ t|tojson }}\n{{ t|tojson(indent=4) }}\n{% endfor %}", {"tools": TOOLS}),
    ("err_json_namespace", "{{ namespace()|tojson }}", {}),
    ("err_json_tuple_key", "{{ {(1, 2): 1}|tojson }}", {}),
    ("err_json_sort_mixed", "{{ {'b': 1, 1: 2}|tojson(sort_keys=true) }}", {}),
    # tests
    ("tests_types", "{{ 1 is odd }}{{ 2 is even }}{{ 4 is divisibleby 2 }}{{ 4 is divisibleby(3) }}{{ 'a' is string }}"
                    "{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 1 is integer }}{{ true is integer }}"
                    "{{ 1.0 is float }}{{ true is boolean }}{{ 1 is boolean }}{{ true is true }}{{ 1 is true }}"
                    "{{ false is false }}{{ none is none }}{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}"
                    "{{ 'a' is iterable }}{{ 1 is iterable }}{{ [] is sequence }}{{ {} is sequence }}"
                    "{{ 1 is sequence }}{{ 3.0 is odd }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}"
                      "{{ 2 is ge 2 }}{{ 2 is le 1 }}{{ 2 is ne 1 }}{{ 2 is in [1, 2] }}{{ 'abc' is lower }}"
                      "{{ 'ABC' is upper }}{{ 'aB' is lower }}{{ none is sameas none }}{{ true is sameas true }}"
                      "{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}{{ range is callable }}"
                      "{{ 'x' is greaterthan 'a' }}", {}),
    ("tests_not", "{{ x is not none }}{{ not x is none }}{{ x is not defined }}{{ x is not string }}", {"x": 1}),
    ("err_test_unknown", "{{ 1 is nosuchtest }}", {}),
    # str methods
    ("str_methods_split", "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}"
                          "|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}"
                          "|{{ 'a b c'.rsplit(' ', 1) }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ ' a b c '.split(none, 1) }}"
                          "|{{ 'a,b'.split(sep=',') }}", {}),
    ("str_methods_search", "{{ 'abc'.startswith('ab') }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('bc') }}"
                           "{{ 'abc'.startswith('b', 1) }}|{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}"
                           "{{ 'hello'.find('z') }}{{ 'héllo'.find('l') }}|{{ 'aaa'.count('a') }}"
                           "|{{ 'hello'.index('e') }}|{{ 'hello'.find('l', 3) }}", {}),
    ("str_methods_case", "{{ 'hello world'.title() }}|{{ 'they\\'re'.title() }}|{{ 'ABC def'.capitalize() }}"
                         "|{{ 'a-b'.replace('-', '+') }}|{{ '-'.join(['a', 'b']) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}"
                         "|{{ 'ünïcödé'.upper() }}|{{ 'ÀÉÎ'.lower() }}|{{ 'aaa'.replace('a', 'b', 1) }}", {}),
    ("str_methods_is", "{{ '12'.isdigit() }}{{ 'ab'.isalpha() }}{{ 'a1'.isalnum() }}{{ '  '.isspace() }}"
                       "{{ ''.isdigit() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}|{{ 'prefix_x'.removeprefix('prefix_') }}"
                       "|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'a=b'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}"
                       "|{{ '5'.zfill(3) }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}|{{ 'ab'.center(6, '*') }}", {}),
    ("str_methods_think", "{{ s.split('</think>')[-1].lstrip('\\n') }}|{{ s.split('</think>')[0].rstrip('\\n')"
                          ".split('<think>')[-1].lstrip('\\n') }}", {"s": "<think>\nhmm\n</think>\n\nanswer"}),
    ("err_str_index", "{{ 'a'.index('z') }}", {}),
    ("err_str_split_empty", "{{ 'a'.split('') }}", {}),
    ("err_str_join_ints", "{{ ','.join([1, 2]) }}", {}),
    ("err_str_no_method", "{{ 'abc'.nosuch() }}", {}),
    # dict and list methods, the sandbox
    ("dict_list_methods", "{{ d.keys()|list }}{{ d.values()|list }}{{ d.items()|list }}{{ d.get('a') }}"
                          "{{ d.get('z', 0) }}|{{ [1,2,1].count(1) }}{{ [1,2].index(2) }}|{{ [1].append is defined }}",
     {"d": {"a": 1, "b": 2}}),
    ("err_sandbox_append", "{{ [1].append(2) }}", {}),
    ("err_sandbox_update", "{{ {}.update({}) }}", {}),
    ("err_sandbox_pop", "{{ d.pop('a') }}", {"d": {"a": 1}}),
    # globals
    ("glob_range", "{{ range(3)|list }}{{ range(1, 4)|list }}{{ range(10, 0, -3)|list }}{{ range(0)|list }}"
                   "{{ range(3) }}{{ range(-2) }}", {}),
    ("glob_dict", "{{ dict(a=1, b=2) }}{{ dict([('x', 1)]) }}{{ dict({'k': 'v'}, z=0) }}{{ dict() }}", {}),
    ("glob_strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S %b %d %A %j %B %a %y %p %I') }}|{{ strftime_now('%d %b %Y') }}",
     {}),
    ("glob_joiner", "{% set j = joiner(' | ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("glob_defined", "{{ range is defined }}{{ namespace is defined }}{{ strftime_now is defined }}"
                     "{{ raise_exception is defined }}{{ dict is defined }}{{ nope is defined }}", {}),
    ("err_raise_exception", "{% if true %}{{ raise_exception('boom: ' ~ 42) }}{% endif %}", {}),
    ("err_range_zero_step", "{{ range(0, 10, 0)|list }}", {}),
    ("err_range_too_big", "{{ range(1000000)|length }}", {}),
    ("err_range_float", "{{ range(1.5) }}", {}),
    ("err_call_non_callable", "{{ 'abc'() }}", {}),
    # statements and misc
    ("misc_tools_none", "{% if tools %}T{% endif %}{% if tools is none %}N{% endif %}{% if tools is defined %}D{% endif %}",
     {"tools": None}),
    ("misc_generation", "a{% generation %}b{{ 1 }}{% endgeneration %}c", {}),
    ("misc_block", "{% block x %}in block{% endblock %}|{% block y %}y{% endblock y %}", {}),
    ("misc_content_list", "{% for m in messages %}{{ m.content }}{% endfor %}",
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image"}]}]}),
    ("misc_elif", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three"
                  "{% else %}many{% endif %} {% endfor %}", {}),
    ("misc_if_tuple", "{% if 0, 0 %}tuple is truthy{% endif %}", {}),
    ("misc_keyword_names", "{{ [1, 2]|join(d='-') }}|{{ 'x' if 'in' in 'inside' }}", {}),
    # jinja2 quirks found by differential fuzzing
    ("quirk_neg_const_pow", "{{ -2 ** x }}|{{ (-2) ** 2 }}|{{ -2 ** 2 }}|{{ -x ** 2 }}", {"x": 2}),
    ("quirk_percent_undefined", "{{ '%s!' % foo }}|{{ 'x' % foo }}|{{ 'y' % [1] }}", {}),
    ("quirk_map_falsy", "{{ none|map('upper')|list }}{{ ''|map('upper')|list }}{{ foo|map('upper')|list }}", {}),
    ("quirk_callable_undefined", "{{ foo is callable }}", {}),
    ("quirk_const_slice", "{{ (7)[1:] }}|{{ true[:1] }}", {}),
    ("quirk_range_methods", "{{ range(5).count(3) }}{{ range(2, 10, 2).index(6) }}", {}),
    ("err_indent_list", "{{ [1]|indent }}", {}),
    ("err_runtime_slice", "{{ n[1:] }}", {"n": 7}),
    ("err_const_slice_in_expression", "{{ (7)[1:] ~ n }}", {"n": 7}),
    # syntax errors (transformers fails to compile these)
    ("syntax_unclosed_if", "{% if x %}", {}),
    ("syntax_wrong_end", "{% for x in y %}{% endif %}", {}),
    ("syntax_dangling_op", "{{ 1 + }}", {}),
    ("syntax_unclosed_paren", "{{ (1, 2 }}", {}),
    ("syntax_stray_end", "{% endfor %}", {}),
    ("syntax_unterminated_string", "{{ 'abc }}", {}),
    ("syntax_unknown_tag", "{% foo %}", {}),
    ("syntax_include", "{% include 'x.jinja' %}", {}),
    ("syntax_empty_expr", "{{ }}", {}),
    ("syntax_macro_default_order", "{% macro f(a=1, b) %}{% endmacro %}", {}),
    ("syntax_unclosed_comment", "text {# never closed", {}),
    ("syntax_unclosed_var", "text {{ x ", {}),
    ("syntax_bad_char", "{{ a $ b }}", {}),
    ("syntax_test_operator_name", "{{ 1 is == 1 }}", {}),
]


def render_snippet(template, context):
    try:
        return {"output": ctu._compile_jinja_template(template).render(**context)}
    except Exception as e:  # noqa: BLE001
        return {"error": _error(e)}


def main():
    templates = []
    for file, special in TEMPLATES.items():
        with open(os.path.join(HERE, file), encoding="utf-8") as f:
            text = f.read()
        results = []
        for case in CASES:
            r = render_case(text, special, case)
            results.append({"case": case["name"], **r})
        templates.append({"file": file, "special_tokens": special, "results": results})
    cases = [{**c, "continue_final_message": "content" if c.get("continue_final_message") else ""} for c in CASES]
    snippets = []
    names = set()
    for name, template, context in SNIPPETS:
        assert name not in names, name
        names.add(name)
        snippets.append({"name": name, "template": template, "context": context, **render_snippet(template, context)})
    goldens = {
        "generated_by": f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}, "
                        f"Python {sys.version.split()[0]} (make_goldens.py)",
        "now_unix": FIXED_NOW_UNIX,
        "cases": cases,
        "templates": templates,
        "snippets": snippets,
    }
    out = os.path.join(HERE, "goldens.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_out = sum(1 for t in templates for r in t["results"] if "output" in r)
    n_err = sum(1 for t in templates for r in t["results"] if "error" in r)
    s_err = sum(1 for s in snippets if "error" in s)
    print(f"wrote {out}: {len(templates)} templates x {len(CASES)} cases ({n_out} renders, {n_err} rejections), "
          f"{len(snippets)} snippets ({s_err} errors)")


if __name__ == "__main__":
    main()
