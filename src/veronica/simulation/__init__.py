"""Attack simulator for the liveness work. Everything it produces is *simulated*:
a 3D head rendered from one photo, prints and screens rendered as textured
planes; never a recording of a real person following a challenge."""

from veronica.simulation.actors import Actor, GenuineActor, VideoActor
from veronica.simulation.attacks import SPECIES, make_actor
from veronica.simulation.scripts import Timeline, random_script
from veronica.simulation.video import simulate_to_file, write_video

__all__ = [
    "SPECIES",
    "Actor",
    "GenuineActor",
    "Timeline",
    "VideoActor",
    "make_actor",
    "random_script",
    "simulate_to_file",
    "write_video",
]
