"""Watching runs: the browser replay viewer for recorded episodes (``scene``: episode -> page JSON read from the
simulator's loaded world; ``server``: the loopback HTTP server; ``static/``: the WebGL page) and the run report
(``report``). Imports only ``worlds`` of ours."""
