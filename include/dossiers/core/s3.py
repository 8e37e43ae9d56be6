"""The S3 client of the document store and the report store: the Airflow connection ``dossier_s3``.

Both stores reach S3 through the Airflow amazon provider's connection ``dossier_s3``
(``AIRFLOW_CONN_DOSSIER_S3`` in the environment, or Airflow's secrets / metadata database).
Its ``login`` / ``password`` are the access key, its ``extra`` may carry ``endpoint_url``,
``region_name``, ``aws_session_token`` and ``config_kwargs`` (an S3-compatible store such as
the compose stack's MinIO, moto's server in the tests).

**Why the client is not always built by** ``S3Hook``: importing the amazon provider's hook
imports Airflow, about 120 MB of resident memory and 2 s before the first byte moves
(measured: ``import boto3`` + client 50 MB, ``from airflow.providers.amazon.aws.hooks.s3
import S3Hook`` 127 MB). Issue 11 bounds a document add or get of any size to < 200 MB of
peak memory, and the CLI runs one command per process. So when the connection is given in
the environment (the first place Airflow itself looks, in its JSON or URI form) with plain
credentials, the boto3 client is built here from the same fields the hook reads. Anything
else — the connection only in Airflow's metadata database or a secrets backend, an assumed
role, a profile — goes through ``S3Hook`` itself, which also falls back to boto3's own
credential chain when there is no connection at all. Either way it is the same connection.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

S3_CONN_ID = "dossier_s3"

#: Extra fields the light path understands; any other field means "let the hook do it".
_LIGHT_EXTRA = frozenset({"endpoint_url", "region_name", "aws_session_token", "config_kwargs",
                          "verify", "service_config"})

#: A store on loopback that is down must fail in seconds with a clear error, not hang.
_DEFAULT_CONFIG = {"connect_timeout": 10, "read_timeout": 120,
                   "retries": {"max_attempts": 3, "mode": "standard"}}


def _env_connection(conn_id: str) -> dict[str, Any] | None:
    """The connection's fields from ``AIRFLOW_CONN_<ID>`` (JSON or URI), or None."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        fields = json.loads(raw)
        extra = fields.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        return {"login": fields.get("login"), "password": fields.get("password"), "extra": extra}
    uri = urlparse(raw)
    query = dict(parse_qsl(uri.query, keep_blank_values=True))
    extra = json.loads(query["__extra__"]) if "__extra__" in query else query
    return {"login": unquote(uri.username) if uri.username else None,
            "password": unquote(uri.password) if uri.password else None, "extra": extra}


def s3_client(conn_id: str = S3_CONN_ID) -> Any:
    """A boto3 S3 client for the Airflow connection ``conn_id`` (see the module's note)."""
    fields = None if os.environ.get("AIRFLOW__SECRETS__BACKEND") else _env_connection(conn_id)
    if fields is None or not set(fields["extra"]) <= _LIGHT_EXTRA:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=conn_id).get_conn()

    import boto3
    from botocore.config import Config

    extra = fields["extra"]
    config = {**_DEFAULT_CONFIG, **(extra.get("config_kwargs") or {})}
    session = boto3.session.Session(
        aws_access_key_id=fields["login"] or None,
        aws_secret_access_key=fields["password"] or None,
        aws_session_token=extra.get("aws_session_token") or None,
        region_name=extra.get("region_name") or None,
    )
    s3_config = extra.get("service_config", {}).get("s3", {})
    return session.client("s3", endpoint_url=s3_config.get("endpoint_url") or extra.get("endpoint_url"),
                          verify=extra.get("verify"), config=Config(**config))


def endpoint_of(client: Any) -> str:
    """The endpoint the client talks to, for messages."""
    return str(getattr(client.meta, "endpoint_url", "") or "S3")
