"""The test workspaces and their tokens: the emulator serves them, every run is checked
against them (a token of theirs in any output fails the test, tests/tap_runner.py)."""

from __future__ import annotations

#: Test workspaces and their tokens (stored without the ``pat-`` prefix, as Indigo shows them).
WORKSPACES = {"ws-alpha": "alphaSecretToken0001", "ws-beta": "betaSecretToken00002"}
