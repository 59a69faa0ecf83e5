"""The explicit list of connectors a deployment may use, by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connectors.base import Connector
from connectors.log import LogConnector

FACTORIES: Mapping[str, Callable[[], Connector]] = {
    "log": LogConnector,
}


class UnknownConnectorError(ValueError):
    pass


def build_registry(names: tuple[str, ...]) -> dict[str, Connector]:
    unknown = [name for name in names if name not in FACTORIES]
    if unknown:
        raise UnknownConnectorError(
            f"Config 'HUB_CONNECTORS' names unknown connector(s): {', '.join(unknown)}. "
            f"Known: {', '.join(sorted(FACTORIES))}."
        )
    return {name: FACTORIES[name]() for name in names}
