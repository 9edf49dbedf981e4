"""The one rule for settings that are left unset in what a run is keyed and recorded by.

A setting such as a step budget, a step cap or a hyper-parameter a method derives from another
changes what a run computes only when it is set. Unset (``None``), it is left out of the config a
cache key is hashed from and out of what the run records, so a run that does not use the setting
has the same key and record as one made before the setting existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def key_config(values: Mapping[str, Any], optional: Iterable[str]) -> dict[str, Any]:
    """``values`` without the entries named in ``optional`` whose value is ``None`` (unset); every
    other entry, ``None`` or not, is kept, in its order.

    >>> key_config({"epochs": None, "steps": None, "lr": 0.001}, ("steps",))
    {'epochs': None, 'lr': 0.001}
    >>> key_config({"epochs": None, "steps": 3}, ("steps",))
    {'epochs': None, 'steps': 3}
    """
    unset = {name for name in optional if values.get(name) is None}
    return {name: value for name, value in values.items() if name not in unset}
