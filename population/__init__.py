"""The population: Ray actors (rollout workers, learners), the league, PBT and the driver of ``openland train``.

Importing the package decides, before any of its modules imports Ray, whether Ray keeps to loopback (see
``population.addresses``): yes unless ``RAY_ADDRESS`` names another machine.
"""

import os

from population.addresses import keep_ray_on_loopback

keep_ray_on_loopback(os.environ.get("RAY_ADDRESS"))
