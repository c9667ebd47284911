"""Episodes: recording a run's episodes to small files and replaying them exactly. Imports ``worlds.envs`` and below."""
