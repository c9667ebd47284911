"""Task data: world and game specs, their JSON codec and content ids, the walkability rule, the world and game
generators, families.

Pure Python and numpy: nothing here imports MuJoCo, so ``import worlds.tasks.spec`` stays light."""
