"""An asyncio client for Viva, the real-time interview engine (docs/protocol.md).

`Viva` is the REST API as one user; `Viva.connect` gives an `Interview`, the session's socket
kept connected until the session ends, and `Interview.model` follows the interview.
"""

from .codec import Encoding
from .errors import ApiError, ReconnectFailed, SessionClosed, VivaError
from .interview import Backoff, Interview
from .model import Model, PendingAnswer, RefusedAnswer, reduce
from .rest import Viva

__all__ = [
    "ApiError",
    "Backoff",
    "Encoding",
    "Interview",
    "Model",
    "PendingAnswer",
    "ReconnectFailed",
    "RefusedAnswer",
    "SessionClosed",
    "Viva",
    "VivaError",
    "reduce",
]

__version__ = "0.1.0"
