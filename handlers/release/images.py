"""Which image each side of the service pair runs after a new version is put on green.

One decision for every caller: the pipeline's prepare step and `deploy.py release` both put a new image on
green with it, so both refuse the same topologies.
"""

from __future__ import annotations

from .exceptions import InvalidInput, TopologyError
from .topology import Topology

SIDES = frozenset({"Code1", "Code2"})


def compute_images(topology: Topology, image: str) -> dict[str, str]:
    """The service stack's Code1/Code2 parameters: green gets `image`, blue keeps the one image it runs."""
    blue, green = topology["blue"], topology["green"]
    if {blue["identifier"], green["identifier"]} != SIDES:
        raise TopologyError(f"Target groups carry Identifier tags {blue['identifier']!r} and "
                            f"{green['identifier']!r}; expected Code1 and Code2. Fix the tags in the stack.")
    live_images = blue["service"]["images"]
    if len(live_images) != 1:
        raise TopologyError(f"The live service runs {len(live_images)} essential images; expected one.")
    if not image or any(c.isspace() for c in image):
        raise InvalidInput(f"{image!r} is not an image reference (expected e.g. repository:tag).")
    return {str(green["identifier"]): image, str(blue["identifier"]): live_images[0]}
