"""The errors a loci user can meet.

Every failure that reaches a user is one of these. Third-party errors (openai, anthropic,
llama-cpp, jupyter_client, sqlite3) are translated once, at the boundary of the adapter that
calls them (``raise LociError(...) from exc``); the CLI turns a ``LociError`` into its one-line
message and exit code in one place (``loci.cli.main``), and the web app turns it into
``{"error": message}`` with its HTTP status in one place (``loci.web.app``). A subclass
without its own ``exit_code`` / ``http_status`` has its parent's.

    LociError                     exit 1  HTTP 500
    ├── ConfigError               exit 2  HTTP 500  a bad config file, flag or environment variable
    ├── ModelError                exit 3  HTTP 400  anything that went wrong talking to a model
    │   ├── ModelAuthError                          bad or missing API key
    │   ├── ModelNotFoundError                      unknown model name / spec
    │   ├── ModelUnavailableError                   rate limits, 5xx, dropped connections (retried)
    │   ├── ModelResponseError                      a reply that cannot be understood
    │   └── MissingExtraError                       an optional dependency is not installed
    ├── KernelError               exit 4  HTTP 500  a kernel could not start or cannot be recovered
    ├── StoreError                exit 5  HTTP 500  the history database cannot be read or written
    │   └── NotFoundError                 HTTP 404  no conversation with that id
    ├── ModelInstallError         exit 6  HTTP 500  an embedded model could not be fetched/verified
    ├── ApiError                          HTTP 4xx  a request the API refuses (with its own status)
    ├── PathRefused                       HTTP 403  a file path that is not inside the workspace
    ├── ApprovalError                     HTTP 409  an answer for no waiting block, or a stale one
    ├── TurnRunningError                  HTTP 409  a request while the previous one still runs
    └── KernelLimitError                  HTTP 429  a user's live kernels are all busy

The last five are the web layer's (``loci serve``); the CLI never meets them.
"""

from __future__ import annotations


class LociError(Exception):
    """Base class: carries a user-facing message, the CLI exit code and the HTTP status."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(LociError):
    exit_code = 2


class ModelError(LociError):
    exit_code = 3
    http_status = 400


class ModelAuthError(ModelError):
    pass


class ModelNotFoundError(ModelError):
    pass


class ModelUnavailableError(ModelError):
    pass


class ModelResponseError(ModelError):
    pass


class MissingExtraError(ModelError):
    """An optional part is not installed; the message names the install command."""

    def __init__(self, what: str, extra: str, package: str) -> None:
        super().__init__(f"{what} needs the '{package}' package: pip install 'loci[{extra}]'")
        self.extra = extra
        self.package = package


class KernelError(LociError):
    exit_code = 4


class StoreError(LociError):
    exit_code = 5


class NotFoundError(StoreError):
    http_status = 404


class ModelInstallError(LociError):
    exit_code = 6


class ApiError(LociError):
    """A request the HTTP API refuses; the status is given with each one."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


class PathRefused(LociError):
    """A path that is not a plain relative path inside the workspace."""

    http_status = 403


class ApprovalError(LociError):
    """An approval that does not match a waiting block (unknown id, or a stale hash)."""

    http_status = 409


class TurnRunningError(LociError):
    """A request was sent while the conversation's previous one is still running."""

    http_status = 409


class KernelLimitError(LociError):
    """A user already has as many live kernels as allowed, all of them busy."""

    http_status = 429
