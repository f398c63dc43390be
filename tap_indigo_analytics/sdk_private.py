"""The few private names of the Meltano SDK this tap still uses, each with why.

Everything else goes through the SDK's public surface. Each name here has no public
alternative in singer-sdk 0.54/0.55; ``tests/test_sdk_surface.py`` checks every one
against the installed SDK, so a release that renames or reshapes one fails there, by
name, instead of somewhere in a sync.

Imported names:

- ``ConfigInput`` (``plugin_base._ConfigInput``): what the SDK's ``--config`` callback
  returns and its ``--discover``/``--test`` callbacks read back from ``ctx.params``.
  Our callback (``Tap.cb_config``) must return the same type to read config files with
  one-line errors (inputs.py).
- ``StreamStateManager`` (``streams._state``): subclassed by ``IndexedStateManager``
  (state.py) to find a workspace's partition in O(1); the SDK scans the whole list,
  quadratic in the workspaces. Built through ``Stream.state_manager`` from the stream's
  ``_state_manager`` slot and ``_tap_state``, the only way to hand the SDK another one.
  Its ``_logger`` is replaced by a quiet one (state.py): the SDK logs a line per
  partition through it, and building those records cost more than the partition.

Typing only: ``helpers._state.StateWriter``, the declared type of the public
``Tap.state_writer`` property, which the tap overrides with ``state.StateOut``.

Overridden private hooks (tap.py), each named in ``OVERRIDDEN_HOOKS``:

- ``PluginBase._validate_config``: the one place the SDK validates config in its
  constructor; ours turns every problem into one line naming the key (settings.py).
- ``PluginBase._env_var_config``: the SDK's reader of ``TAP_INDIGO_ANALYTICS_*``
  variables raises a bare traceback on a bad value; ours names the variable.
- ``PluginBase._setup_signal_handlers``: the SDK's handler exits 0 on SIGTERM (a
  scheduler records that as a finished run). The tap installs no handler of its own
  in the constructor; the command line installs ``TapIndigoAnalytics.on_signal``
  (tap.py) and the Airbyte face its own (airbyte/signals.py).
"""

from __future__ import annotations

from singer_sdk.plugin_base import _ConfigInput as ConfigInput
from singer_sdk.streams._state import StreamStateManager

__all__ = ["OVERRIDDEN_HOOKS", "ConfigInput", "StreamStateManager"]

#: Private methods/properties of ``singer_sdk.plugin_base.PluginBase`` the tap overrides.
OVERRIDDEN_HOOKS = ("_validate_config", "_env_var_config", "_setup_signal_handlers")
