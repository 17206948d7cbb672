"""`gatewayctl dump`: the live state a catalog owns, written back as that catalog.

- `kong.py`: Kong entities -> services, routes, upstreams, consumers, plugins (the reverse of
  `render/kong.py`), and `replay`, which plans the written catalog against the live state;
- `kuma.py`: Kuma objects -> the `mesh:` section and the services' `mesh:` blocks (the reverse of
  `render/kuma.py`), and `replay_kuma`;
- `placeholders.py`: secret values as `${env:NAME}` placeholders; `values.py`: the small value mappings.
"""

from gatewayctl.dump.kong import Dump, live_to_catalog, replay
from gatewayctl.dump.placeholders import Placeholder
from gatewayctl.dump.values import duration

__all__ = ["Dump", "Placeholder", "duration", "live_to_catalog", "replay"]
