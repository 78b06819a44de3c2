"""The type stubs describe the package that exists: every public name is stubbed, and the stubbed
signatures of LLM, SamplingParams and generate match the runtime ones."""

import ast
import inspect
import pathlib

import shardlm
import shardlm.distributed

PKG = pathlib.Path(shardlm.__file__).parent


def _stub(name):
    return ast.parse((PKG / name).read_text())


def _names(tree):
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                out[a.asname or a.name] = node
        elif isinstance(node, ast.AnnAssign):
            out[node.target.id] = node
    return out


def _params(fn):
    a = fn.args
    return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg != "self"]


def test_stubs_and_py_typed_ship_with_the_package():
    assert (PKG / "py.typed").exists()
    assert set(shardlm.__all__) <= set(_names(_stub("__init__.pyi")))
    assert set(shardlm.distributed.__all__) <= set(_names(_stub("distributed/__init__.pyi")))


def test_stubbed_signatures_match_the_runtime():
    names = _names(_stub("__init__.pyi"))

    def method(cls, meth):
        return next(n for n in names[cls].body if isinstance(n, ast.FunctionDef) and n.name == meth)

    def runtime(obj):
        return [p.name for p in inspect.signature(obj).parameters.values()
                if p.name != "self" and p.kind is not p.VAR_KEYWORD]

    assert _params(method("LLM", "__init__")) == runtime(shardlm.LLM.__init__)
    assert _params(method("LLM", "generate")) == runtime(shardlm.LLM.generate)
    assert _params(method("SamplingParams", "__init__")) == runtime(shardlm.SamplingParams.__init__)
