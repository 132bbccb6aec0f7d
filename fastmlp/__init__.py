"""fastmlp: multilayer perceptrons trained and run by compiled kernels.

At import the best kernel set this CPU supports is chosen; the environment
variable FASTMLP_ISA=generic|avx2|avx512 forces one.
"""
import os as _os

try:
    from fastmlp import _core
except ImportError:
    import importlib.util as _util

    if _util.find_spec("fastmlp._core") is not None:
        raise  # the extension is there but does not load: its own error says why
    # Python's own message here blames a circular import.
    raise ImportError(
        f"fastmlp's compiled extension (_core) is not in {_os.path.dirname(__file__)}: "
        "this is a source tree, not a built package. Install it (pip install .) and run "
        "Python from another directory, or with -I, since the current directory comes "
        "first on the import path; or build it in place (python setup.py build_ext "
        "--inplace).") from None

_forced_isa = _os.environ.get("FASTMLP_ISA")
try:
    _core.set_isa((_forced_isa or _core.best_isa()).lower())
except (ValueError, RuntimeError) as _error:  # only a forced ISA can fail
    raise type(_error)(f"FASTMLP_ISA={_forced_isa!r}: {_error}") from None

from fastmlp import activations, callbacks, init, losses, optim, schedules  # noqa: E402
from fastmlp._config import config  # noqa: E402
from fastmlp._core import gemm, get_num_threads, set_num_threads  # noqa: E402
from fastmlp.errors import DivergenceError, ModelFileError  # noqa: E402
from fastmlp.gradcheck import check_gradients  # noqa: E402
from fastmlp.io import load  # noqa: E402
from fastmlp.layers import Dense, Dropout, Maxout  # noqa: E402
from fastmlp.model import Sequential  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "Dense", "DivergenceError", "Dropout", "Maxout", "ModelFileError", "Sequential",
    "activations", "callbacks", "check_gradients", "config", "gemm", "get_num_threads",
    "init", "load", "losses", "optim", "schedules", "set_num_threads", "__version__",
]
