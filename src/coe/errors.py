"""One error tree for all of CoE.

    CoeError                      every error CoE raises on purpose; ``str(e)`` is one line for the user
    ├── ConfigError               a config or catalog file is invalid (names file, key, problem)
    ├── InputError                the user's input is wrong (unknown model, empty question, ...)
    ├── ProviderError             a model call failed (names provider/model and what to do)
    │   ├── AuthError             401/403, or no key configured (MissingKeyError)
    │   │   └── MissingKeyError
    │   ├── RateLimitedError      429 after retries
    │   ├── ProviderTimeout       connect/read timeout after retries
    │   ├── BadResponseError      malformed JSON/SSE, stream cut mid-way, 4xx the caller can't fix by retrying
    │   └── UnavailableError      5xx after retries, endpoint unreachable, local model missing
    ├── RoutingError
    ├── WorkflowError
    └── StoreError

Every message says what is wrong and what to do. Secrets never appear in messages.
"""

from __future__ import annotations


class CoeError(Exception):
    """Base of every CoE error. ``hint`` says what the user can do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(CoeError):
    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 hint: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(p for p in (file, f"key '{key}'" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class InputError(CoeError):
    pass


class ProviderError(CoeError):
    """A model call failed. ``model`` is the catalog id; ``partial`` holds text received before a failure."""

    retryable = False

    def __init__(self, model: str, message: str, *, hint: str | None = None, status: int | None = None,
                 partial: str = "") -> None:
        self.model = model
        self.status = status
        self.partial = partial
        super().__init__(f"{model}: {message}", hint=hint)


class AuthError(ProviderError):
    pass


class MissingKeyError(AuthError):
    def __init__(self, model: str, env_var: str) -> None:
        self.env_var = env_var
        super().__init__(model, "no API key configured",
                         hint=f"set {env_var} (or add it under [keys] in coe.toml)")


class RateLimitedError(ProviderError):
    retryable = True


class ProviderTimeout(ProviderError):
    retryable = True


class BadResponseError(ProviderError):
    pass


class UnavailableError(ProviderError):
    retryable = True


class RoutingError(CoeError):
    pass


class WorkflowError(CoeError):
    pass


class StoreError(CoeError):
    pass
