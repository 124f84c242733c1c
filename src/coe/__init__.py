"""CoE — Collaboration of Experts: many LLMs answering together.

The public Python API lives here; see ``coe.api`` for the functions re-exported below.
"""

from coe.api import ask, run, stream
from coe.errors import CoeError

__all__ = ["CoeError", "__version__", "ask", "run", "stream"]

__version__ = "0.1.0"
