"""The tap's environment in the scale section: no proxy variable, and optionally the
~150 variables ``meltano run`` exports to an extractor.

``requests`` looks up proxies in ``os.environ`` for every request it sends (a scan of
every variable), unless ``NO_PROXY`` names the host: a ``NO_PROXY`` for loopback would
hide a cost the tap always pays against the real API, so no ``*_proxy`` variable ever
reaches the tap here. Meltano exports each setting of the extractor and of the loader,
twice (``MELTANO_EXTRACT_*`` and ``TAP_…_*``, ``MELTANO_LOAD_*`` and ``TARGET_…_*``, and
likewise the transformer's), plus its own; with a config file the tap reads none of
them, so they only cost lookups.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: How many variables the Meltano row adds.
MELTANO_VARIABLES = 150

_CORE = {
    "MELTANO_PROJECT_ROOT": "/srv/analytics/meltano",
    "MELTANO_ENVIRONMENT": "prod",
    "MELTANO_PROJECT_ID": "5c4f0b57-7f8e-4d4e-9a3c-0f6ad1e2b9a1",
    "MELTANO_PROJECT_READONLY": "false",
    "MELTANO_DATABASE_URI": "sqlite:////srv/analytics/meltano/.meltano/meltano.db",
    "MELTANO_CLI_LOG_LEVEL": "info",
    "MELTANO_CLI_LOG_CONFIG": "logging.yaml",
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_ELT_BUFFER_SIZE": "10485760",
    "MELTANO_RUN_ID": "0b7e3f0c-2f4e-4d8a-8d5e-6a1c2b3d4e5f",
    "MELTANO_STATE_ID_SUFFIX": "",
    "MELTANO_SYS_DIR_ROOT": "/srv/analytics/meltano/.meltano",
    "MELTANO_VENV_BACKEND": "virtualenv",
    "MELTANO_EXTRACTOR_NAME": "tap-indigo-analytics",
    "MELTANO_EXTRACTOR_NAMESPACE": "tap_indigo_analytics",
    "MELTANO_EXTRACTOR_EXECUTABLE": "tap-indigo-analytics",
    "MELTANO_EXTRACTOR_VARIANT": "indigo",
    "MELTANO_EXTRACTOR_CAPABILITIES": '["catalog","discover","state","about"]',
    "MELTANO_LOADER_NAME": "target-postgres",
    "MELTANO_LOADER_NAMESPACE": "target_postgres",
    "MELTANO_LOADER_EXECUTABLE": "target-postgres",
    "MELTANO_LOADER_VARIANT": "meltanolabs",
}
_EXTRACTOR_EXTRAS = ("select", "metadata", "schema", "catalog", "state", "load_schema")
_LOADER_SETTINGS = {
    "host": "warehouse.internal",
    "port": "5432",
    "user": "loader",
    "database": "analytics",
    "default_target_schema": "indigo",
    "sqlalchemy_url": "",
    "dialect+driver": "postgresql+psycopg",
    "ssl_enable": "true",
    "ssl_client_certificate_enable": "false",
    "ssl_mode": "verify-full",
    "ssl_certificate_authority": "~/.postgresql/root.crl",
    "ssl_client_certificate": "~/.postgresql/postgresql.crt",
    "ssl_client_private_key": "~/.postgresql/postgresql.key",
    "ssl_storage_directory": ".secrets",
    "ssh_tunnel.enable": "false",
    "ssh_tunnel.host": "",
    "ssh_tunnel.port": "22",
    "ssh_tunnel.username": "",
    "activate_version": "true",
    "hard_delete": "false",
    "add_record_metadata": "true",
    "interpret_content_encoding": "false",
    "load_method": "append-only",
    "batch_size_rows": "100000",
    "process_activate_version_messages": "true",
    "use_copy": "true",
    "validate_records": "true",
    "stream_maps": "{}",
    "stream_map_config": "{}",
    "faker_config.seed": "",
    "faker_config.locale": "",
    "flattening_enabled": "false",
    "flattening_max_depth": "1",
    "temp_dir": "/tmp",
    "max_parallelism": "8",
    "max_batch_age": "5",
    "batch_config.encoding.format": "jsonl",
}

_TRANSFORMER_SETTINGS = {
    "project_dir": "/srv/analytics/meltano/transform",
    "profiles_dir": "/srv/analytics/meltano/transform/profiles/postgres",
    "target": "prod",
    "host": "warehouse.internal",
    "port": "5432",
    "user": "transformer",
    "dbname": "analytics",
    "schema": "analytics",
    "source_schema": "indigo",
    "target_schema": "analytics",
    "keepalives_idle": "0",
    "connect_timeout": "10",
    "retries": "1",
    "search_path": "",
    "role": "",
    "sslmode": "verify-full",
    "threads": "4",
    "target_path": "target",
    "log_path": "logs",
    "skip_pre_invoke": "false",
}


def tap_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``*_proxy`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(extra or {})
    return env


def _name(prefix: str, key: str) -> str:
    return prefix + key.upper().replace(".", "_").replace("+", "_")


def meltano_environment(
    config: Mapping[str, Any], count: int = MELTANO_VARIABLES
) -> dict[str, str]:
    """``count`` variables as ``meltano run`` exports them for this extractor, a
    PostgreSQL loader and a dbt transformer. The extractor's settings carry ``config``'s
    own values (never the workspaces or a PAT): a tap that read them sees the same config."""
    env = dict(_CORE)
    for key, value in config.items():
        if key in ("workspaces", "pat", "project_id") or isinstance(value, dict | list):
            continue
        for prefix in ("MELTANO_EXTRACT_", "TAP_INDIGO_ANALYTICS_"):
            env[_name(prefix, key)] = str(value)
    for extra in _EXTRACTOR_EXTRAS:
        for prefix in ("MELTANO_EXTRACT__", "TAP_INDIGO_ANALYTICS__"):
            env[_name(prefix, extra)] = "[]" if extra != "load_schema" else "tap_indigo_analytics"
    for key, value in _LOADER_SETTINGS.items():
        for prefix in ("MELTANO_LOAD_", "TARGET_POSTGRES_"):
            env[_name(prefix, key)] = value
    for key, value in _TRANSFORMER_SETTINGS.items():
        for prefix in ("MELTANO_TRANSFORM_", "DBT_POSTGRES_"):
            env[_name(prefix, key)] = value
    names = list(env)
    if len(names) < count:
        raise ValueError(f"only {len(names)} Meltano-like variables known, {count} asked")
    return {name: env[name] for name in names[:count]}
