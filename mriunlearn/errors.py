"""Exception types. Every error names the file, parameter or volume that is wrong."""


class MriUnlearnError(Exception):
    """Base class of every error raised on purpose by this package."""


class DataError(MriUnlearnError, ValueError):
    """A data file is unreadable, truncated, or holds invalid content (message names the file)."""


class ManifestError(MriUnlearnError, ValueError):
    """A split manifest is inconsistent: missing file, changed hash, volume in two roles, leakage."""


class ConfigError(MriUnlearnError, ValueError):
    """An unknown profile, method, option or an out-of-range parameter value."""


class CheckpointError(MriUnlearnError, ValueError):
    """A checkpoint is corrupt or was written for another configuration."""


class EntryLockedError(MriUnlearnError, RuntimeError):
    """A run-cache entry is being computed by another job (message names the holder's host, pid,
    start time and the entry), or the lock could not be taken."""
