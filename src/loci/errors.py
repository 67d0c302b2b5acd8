"""The errors a loci user can meet.

Every failure that reaches a user is one of these. Third-party errors (openai, anthropic,
llama-cpp, jupyter_client, sqlite3) are translated once, at the boundary of the adapter that
calls them (``raise LociError(...) from exc``); the CLI turns a ``LociError`` into its one-line
message and exit code in one place (``loci.cli.main``).

    LociError                      exit 1
    ├── ConfigError                exit 2   a bad config file, flag or environment variable
    ├── ModelError                 exit 3   anything that went wrong talking to a model
    │   ├── ModelAuthError                  bad or missing API key
    │   ├── ModelNotFoundError              unknown model name / spec
    │   ├── ModelUnavailableError           rate limits, 5xx, dropped connections after retries
    │   ├── ModelResponseError              a reply that cannot be understood
    │   └── MissingExtraError               an optional dependency is not installed
    ├── KernelError                exit 4   a kernel could not start or cannot be recovered
    ├── StoreError                 exit 5   the history database cannot be read or written
    │   └── NotFoundError                   no conversation with that id
    └── ModelInstallError          exit 6   an embedded model could not be fetched or verified
"""

from __future__ import annotations


class LociError(Exception):
    """Base class: carries a user-facing message and the CLI exit code."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(LociError):
    exit_code = 2


class ModelError(LociError):
    exit_code = 3


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
    pass


class ModelInstallError(LociError):
    exit_code = 6
