"""A restricted unpickler for network pickles: it rebuilds data, never code.

NVIDIA's network pickles embed the source of their network classes and the stock unpickler
``exec``s it. This one resolves only a fixed table of globals, each mapped to a small function
written here that builds plain data (tensors and storages, numpy arrays and scalars, dicts,
lists, sets); every other global is refused with a one-line ``UnsafePickleError`` before
anything is called. NVIDIA's persistent classes (``torch_utils.persistence``) become inert
``PersistentObject`` records of their class name and pickled ``__dict__``: their source text is
kept as a string and never run.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganatomy.errors import CheckpointError


class UnsafePickleError(CheckpointError):
    """The pickle asks for something that could run code; nothing from it was executed."""


class EasyDictData(dict):
    """Stands in for ``dnnlib.util.EasyDict``: a plain dict (the attribute access is not needed)."""


class PersistentObject:
    """An NVIDIA persistent object (a network module) as data: class name, source hash and state.

    ``state`` is the pickled ``__dict__`` of the module: ``_parameters``, ``_buffers``,
    ``_modules`` (child ``PersistentObject``s or plain data), ``_init_kwargs`` and plain attributes.
    """

    def __init__(self, meta: Any) -> None:
        if not isinstance(meta, dict) or not isinstance(meta.get("class_name"), str):
            raise UnsafePickleError("a persistent object without a class name: not an NVIDIA network pickle")
        self.class_name: str = meta["class_name"]
        self.version = meta.get("version")
        source = meta.get("module_src")
        # The source is kept as a fingerprint only: it is what the stock unpickler would run.
        self.source_sha256 = hashlib.sha256(source.encode()).hexdigest() if isinstance(source, str) else None
        self.source_classes = _defined_classes(source) if isinstance(source, str) else []
        state = meta.get("state")
        self.state: dict[str, Any] = state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"

    def attr(self, name: str, default: Any = None) -> Any:
        """A plain attribute of the pickled module (numpy scalars come back as Python numbers)."""
        value = self.state.get(name, default)
        return value.item() if isinstance(value, np.generic) else value

    @property
    def init_kwargs(self) -> dict[str, Any]:
        kwargs = self.state.get("_init_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def children(self) -> dict[str, Any]:
        modules = self.state.get("_modules")
        return dict(modules) if isinstance(modules, dict) else {}

    def child(self, name: str) -> PersistentObject | None:
        value = self.children().get(name)
        return value if isinstance(value, PersistentObject) else None

    def walk(self, prefix: str = "") -> Iterator[tuple[str, PersistentObject]]:
        """(dotted name, object) of this object and every persistent descendant."""
        yield prefix, self
        for name, child in self.children().items():
            if isinstance(child, PersistentObject):
                yield from child.walk(f"{prefix}.{name}" if prefix else name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What ``module.state_dict()`` would give: parameters and persistent buffers, recursively."""
        out: dict[str, torch.Tensor] = {}
        for prefix, obj in self.walk():
            dot = prefix + "." if prefix else ""
            non_persistent = obj.state.get("_non_persistent_buffers_set") or set()
            for group in ("_parameters", "_buffers"):
                for name, tensor in (obj.state.get(group) or {}).items():
                    if isinstance(tensor, torch.Tensor) and name not in non_persistent:
                        out[dot + name] = tensor
        return out


def _defined_classes(source: str) -> list[str]:
    return [line.split()[1].split("(")[0].rstrip(":") for line in source.splitlines() if line.startswith("class ")]


# ---------------------------------------------------------------------------------------------- builders
class _Storage:
    """A storage read from a record: untyped bytes plus the element dtype."""

    def __init__(self, untyped: torch.UntypedStorage, dtype: torch.dtype) -> None:
        self.untyped, self.dtype = untyped, dtype
        self.numel = untyped.nbytes() // torch.empty(0, dtype=dtype).element_size()


def _load_storage_record(data: Any) -> _Storage:
    """``torch.storage._load_from_bytes``: a legacy ``torch.save`` record of one storage."""
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("a storage record that is not bytes")
    try:
        with warnings.catch_warnings():  # typed storages are deprecated, and this reads one
            warnings.simplefilter("ignore")
            storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
            if isinstance(storage, torch.TypedStorage):
                return _Storage(storage.untyped(), storage.dtype)
    except Exception as e:  # torch's own restricted loader refused or could not parse it
        raise CheckpointError(f"a tensor storage record cannot be read ({_first_line(e)})") from None
    raise UnsafePickleError(f"a storage record holds {type(storage).__name__}, not a typed storage")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
    """``torch._utils._rebuild_tensor(_v2)``: a view of a storage (hooks and metadata ignored)."""
    if not isinstance(storage, _Storage):
        raise UnsafePickleError(f"a tensor over {type(storage).__name__} instead of a storage")
    if not (isinstance(offset, int) and _int_tuple(size) and _int_tuple(stride) and len(size) == len(stride)):
        raise UnsafePickleError("a tensor with a malformed offset, size or stride")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else -1
    if last >= storage.numel:
        raise CheckpointError(f"a tensor of size {list(size)} does not fit its storage of {storage.numel} elements")
    t = torch.empty(0, dtype=storage.dtype)
    return t.set_(storage.untyped, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, *rest: Any) -> torch.Tensor:
    """``torch._utils._rebuild_parameter``: the parameter's tensor, as data."""
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"a parameter over {type(data).__name__} instead of a tensor")
    return data


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: a numpy scalar from its dtype and raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("a numpy scalar that is not a plain number")
    if len(data) != dtype.itemsize:
        raise CheckpointError(f"a numpy {dtype} scalar with {len(data)} bytes")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct``: an empty ndarray that BUILD then fills."""
    if cls is not _NdarrayClass or not _int_tuple(shape):
        raise UnsafePickleError("a numpy array of a class other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype(dtype_code))


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError("a numpy dtype that is not named by a string")
    return np.dtype(spec, bool(align), bool(copy))


def _int_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) and all(isinstance(v, int) and v >= 0 for v in value)


def _plain_set(items: Any = ()) -> set:
    return set(_hashable_items(items))


def _plain_frozenset(items: Any = ()) -> frozenset:
    return frozenset(_hashable_items(items))


def _hashable_items(items: Any) -> list:
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise UnsafePickleError("a set built from something other than a list")
    return list(items)


def _ordered_dict(items: Any = ()) -> collections.OrderedDict:
    if not isinstance(items, (list, tuple, dict)):
        raise UnsafePickleError("an OrderedDict built from something other than a list of pairs")
    return collections.OrderedDict(items)


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles spell a bytes object (text in latin-1)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("a _codecs.encode call that does not build bytes from latin-1 text")
    return text.encode("latin1")


class _NdarrayClass:
    """Stands in for ``numpy.ndarray`` as the class argument of ``_reconstruct`` (never called)."""


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")

# (module, name) as the pickle spells it -> what is called instead. EasyDict must be a class:
# pickle creates it with NEWOBJ (cls.__new__) and fills it with SETITEMS.
SAFE_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _plain_set,
    ("builtins", "frozenset"): _plain_frozenset,
    ("__builtin__", "set"): _plain_set,
    ("_codecs", "encode"): _latin1_bytes,
    ("dnnlib.util", "EasyDict"): EasyDictData,
    ("dnnlib", "EasyDict"): EasyDictData,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_record,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): _NdarrayClass,
    **{(m, "scalar"): _numpy_scalar for m in _NUMPY_CORE},
    **{(m, "_reconstruct"): _numpy_reconstruct for m in _NUMPY_CORE},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ``SAFE_GLOBALS``; any other global or a persistent id is refused."""

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = SAFE_GLOBALS.get((module, name))
        if found is None and module.startswith("dnnlib.tflib"):
            raise UnsafePickleError(
                f"{self.source}: refused to load: a TensorFlow StyleGAN pickle ({module}.{name}) is not supported; "
                "convert it to a PyTorch pickle first (stylegan2-ada-pytorch: python legacy.py "
                "--source=IN.pkl --dest=OUT.pkl), then load that (nothing was run)"
            )
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused to load: the pickle asks for {module}.{name}, which could run code "
                "(only tensors, numpy arrays, plain containers and NVIDIA network records are read; nothing was run)"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"{self.source}: refused to load: the pickle uses persistent ids (not a network pickle)"
        )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def safe_unpickle(data: bytes, source: str = "pickle") -> Any:
    """The object tree of a pickle, built by ``RestrictedUnpickler``; one-line errors for bad files."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{source}: the pickle nests too deeply to be a network file") from None
    except Exception as e:  # pickle reports corruption as many exception types
        raise CheckpointError(f"{source}: truncated or corrupt pickle ({type(e).__name__}: {_first_line(e)})") from None


def load_pickle_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    return safe_unpickle(data, str(path))
