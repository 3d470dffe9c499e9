"""A small error hierarchy. The library raises these; only the edges (CLI, REST, UI)
turn them into user messages and exit codes."""


class RagError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class InputError(RagError):
    """The caller's input is unusable: an empty or oversized question, a bad filter."""

    exit_code = 2


class LoadError(RagError):
    """A file could not be read or parsed into text."""


class StoreError(RagError):
    """The store is missing, inconsistent, or cannot be written."""


class StoreLockedError(StoreError):
    """Another process is writing the store."""


class ModelMismatchError(StoreError):
    """The store was built with a different embedding model."""


class NotReadyError(StoreError):
    """The store holds no documents yet."""


class LLMError(RagError):
    """The configured LLM failed: unreachable, timed out, or replied with nothing usable."""


class ConfigError(RagError):
    """A setting names something unusable: a missing model file, an unknown option."""

    exit_code = 2
