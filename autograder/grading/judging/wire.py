"""The data that crosses the verification sandbox's wall: tagged JSON, never pickles.

Arrays travel as .npy bytes (allow_pickle=False), numbers, strings, lists, tuples and str-keyed dicts as
themselves; trusted helper functions go in by name ($fn, $partial) and are rebuilt from their source
inside; anything else a student returns comes out as {"$other": "module.Type"} and is rebuilt here as an
empty object of a class with that name, which the checks then reject by type. This module imports only
the standard library and numpy: its source is also sent into the sandbox as part of the probe.
"""

import base64
import functools
import io

import numpy as np

# The MIME type of the one output of a hidden-test cell that is read as its check's answer (the stand-in sends
# it, the judge reads it, the executor's output bounds never drop it).
ANSWER_MIME = "text/x-nnfs-check-answer"


def encode(obj, shippable=(), depth=0):
    if depth > 6:
        return {"$other": "nested too deep"}
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if kind is np.ndarray and obj.dtype.kind in "biufc":
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {"$nd": base64.b64encode(buf.getvalue()).decode()}
    if isinstance(obj, np.generic) and kind.__module__ == "numpy" and obj.dtype.kind in "biufc":
        return {"$np": obj.dtype.str, "v": obj.item()}
    if kind is list:
        return [encode(v, shippable, depth + 1) for v in obj]
    if kind is tuple:
        return {"$tuple": [encode(v, shippable, depth + 1) for v in obj]}
    if kind is dict and all(type(k) is str for k in obj):
        return {"$dict": {k: encode(v, shippable, depth + 1) for k, v in obj.items()}}
    if kind is functools.partial and obj.func.__qualname__ in shippable:
        return {"$partial": obj.func.__qualname__, "kw": encode(dict(obj.keywords), shippable, depth + 1)}
    if callable(obj) and getattr(obj, "__qualname__", None) in shippable:
        return {"$fn": obj.__qualname__}
    if callable(obj):
        return None  # a function handed to the student comes back as None: nothing to compare
    return {"$other": kind.__module__ + "." + kind.__qualname__}


def decode(obj, functions=None):
    if isinstance(obj, list):
        return [decode(v, functions) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$nd" in obj:
        return np.load(io.BytesIO(base64.b64decode(obj["$nd"])), allow_pickle=False)
    if "$np" in obj:
        return np.dtype(obj["$np"]).type(obj["v"])
    if "$tuple" in obj:
        return tuple(decode(v, functions) for v in obj["$tuple"])
    if "$dict" in obj:
        return {k: decode(v, functions) for k, v in obj["$dict"].items()}
    if "$fn" in obj:
        return functions[obj["$fn"]]
    if "$partial" in obj:
        return functools.partial(functions[obj["$partial"]], **decode(obj["kw"], functions))
    if "$other" in obj:
        module, _, name = obj["$other"].rpartition(".")
        return type(name or "object", (), {"__module__": module or "student"})()
    raise ValueError("unexpected data from the sandbox: " + ", ".join(list(obj)[:3]))
