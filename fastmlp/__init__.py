"""fastmlp: multilayer perceptrons trained and run by compiled kernels.

At import the best kernel set this CPU supports is chosen; the environment
variable FASTMLP_ISA=generic|avx2|avx512 forces one.
"""
import os as _os

from fastmlp import _core

_core.set_isa((_os.environ.get("FASTMLP_ISA") or _core.best_isa()).lower())

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
