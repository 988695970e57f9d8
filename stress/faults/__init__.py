"""The fault suite: qik against crashes, concurrency, corruption, failing networks, hostile
input, fuzzed config, signals, exhaustion and load (issue 7).

    python -m stress --quick            every case, CI-sized (a few minutes)
    python -m stress --full             every case at the size docs/reliability.md reports
    python -m stress --case crash ...   one case (repeatable)

Each case is one module with ``run(ctx) -> CaseReport``; ``suite.py`` runs them, prints a
table per case and a summary, and exits 1 if any trial failed. Everything runs the real
``qik`` executable in temporary git repositories; nothing is mocked.
"""
