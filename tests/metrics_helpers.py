"""For tests of metrics: reading what a :class:`Metrics` recorded, and ports for the endpoint."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from common.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The sample's value; 0 when nothing was recorded under these labels yet."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def by_label(metrics: Metrics, name: str, label: str, values: tuple[str, ...]) -> dict[str, float]:
    """The sample's value for each value of one label, the others absent."""
    return {value: sample(metrics, name, **{label: value}) for value in values}


def free_port() -> int:
    """A port on 127.0.0.1 free a moment ago, for a server to take."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on while inside."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]
