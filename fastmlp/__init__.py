"""fastmlp: multilayer perceptrons trained and run by compiled kernels.

At import the best kernel set this CPU supports is chosen; the environment
variable FASTMLP_ISA=generic|avx2|avx512 forces one.
"""
import os as _os

from fastmlp import _core
from fastmlp._config import config
from fastmlp._core import gemm, get_num_threads, set_num_threads

__version__ = "0.1.0"
__all__ = ["config", "gemm", "get_num_threads", "set_num_threads", "__version__"]

_core.set_isa(_os.environ.get("FASTMLP_ISA") or _core.best_isa())
