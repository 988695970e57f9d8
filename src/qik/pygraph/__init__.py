"""The Python import graph: ``pygraph`` deps, distribution mapping and fences.

grimp builds the graph of the project's packages (under ``[defaults] python-path``); the
serialized graph is a cached step, stored in the CAS under a key made of the digests of the
project's ``.py`` files, so a run where no ``.py`` file changed never imports grimp.

Modules, by role:

- :mod:`~qik.pygraph.model`: the serialized graph, and how a module maps to its file.
- :mod:`~qik.pygraph.layout`: which top-level names of the project the graph covers, and the
  graph's cache key.
- :mod:`~qik.pygraph.build`: the grimp build (the only importer of grimp).
- :mod:`~qik.pygraph.cache`: loading the graph from the stores, or building and storing it.
- :mod:`~qik.pygraph.closure`: what a module imports, transitively (memoized, bitsets).
- :mod:`~qik.pygraph.dists`: top-level module -> distribution, from the environment.
- :mod:`~qik.pygraph.resolve`: the digester behind ``DepEnv.pygraph``.
- :mod:`~qik.pygraph.fence`: fences of spaces, and the imports that cross them.
- :mod:`~qik.pygraph.check`: the built-in ``pygraph.check`` runnables.

This package's ``__init__`` imports nothing, so the warm path pays only for what it uses.
"""
