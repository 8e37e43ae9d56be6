"""The production-like stack (docker-compose.yaml, Dockerfile), checked without a Docker daemon.

``docker compose config`` validates and interpolates the file client-side; it runs when a
compose implementation is installed (the ``docker compose`` plugin or ``docker-compose``).
The YAML-level checks always run: CeleryExecutor, every Airflow service mounts the project,
the dossier settings are wired, and no secret is written in the file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-worker", "airflow-triggerer", "airflow-init"}
PROJECT_MOUNTS = {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include",
                  "/opt/airflow/sql"}

#: Dummy values for the variables the file requires (``${VAR:?…}``); never real secrets.
REQUIRED_ENV = {
    "AIRFLOW_DB_PASSWORD": "test-airflow-db",
    "DOSSIER_DB_PASSWORD": "test-dossier-db",
    "REDIS_PASSWORD": "test-redis",
    "MINIO_ROOT_PASSWORD": "test-minio-secret",
    "AIRFLOW_FERNET_KEY": "dGVzdC1mZXJuZXQta2V5LW5vdC1yZWFsLTAwMDAwMDA=",
    "AIRFLOW_JWT_SECRET": "test-jwt",
    "AIRFLOW_API_SECRET_KEY": "test-api",
}

SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PRIVATE_KEY|ACCESS_KEY", re.I)
#: A ${…} reference (compose interpolation), whole.
REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(:?[?-][^}]*)?\}$")
#: scheme://user:password@host — the password part.
URL_PASSWORD = re.compile(r"://[^:/@\s\"']*:([^@\s\"']+)@")
#: What compose accepts after a "$": "$$" (a literal $), ${NAME…}, $NAME.
DOLLAR = re.compile(r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(:?[-?+][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _compose_command() -> list[str] | None:
    """``docker compose`` when the plugin is installed, else ``docker-compose``, else None."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return cmd
    return None


def _run_config(cmd: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    key = tmp_path / "master.key"
    key.write_text("not-a-real-key\n")
    full_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
                "DOCKER_CONFIG": str(tmp_path / ".docker"), "DOSSIER_MASTER_KEY_PATH": str(key), **env}
    return subprocess.run([*cmd, "-f", str(COMPOSE), "config", "--quiet"], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, check=False, timeout=120)


def test_compose_config_validates_without_a_daemon(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed")
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no compose implementation: `docker compose` (plugin) is not installed here")
    ok = _run_config(cmd, REQUIRED_ENV, tmp_path)
    assert ok.returncode == 0, ok.stderr
    # A missing secret is refused by name rather than silently left empty.
    missing = _run_config(cmd, {k: v for k, v in REQUIRED_ENV.items() if k != "DOSSIER_DB_PASSWORD"},
                          tmp_path)
    assert missing.returncode != 0 and "DOSSIER_DB_PASSWORD" in missing.stderr


def test_stack_has_every_service(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    assert AIRFLOW_SERVICES <= services
    assert {"postgres", "dossier-db", "redis", "minio", "dossier-migrate"} <= services
    for name, service in compose["services"].items():
        for dep in service.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_executor_is_celery_everywhere(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = _env(compose["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name


def test_every_airflow_service_mounts_the_project_and_sees_the_dossier_db(
        compose: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    declared_secrets = set(compose.get("secrets") or {})
    for name in AIRFLOW_SERVICES | {"dossier-migrate"}:
        service = compose["services"][name]
        mounts = {}
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            mounts[target] = source
            if not source.startswith((".", "/", "$")):
                assert source in declared_volumes, f"{name}: undeclared volume {source}"
        assert PROJECT_MOUNTS <= set(mounts), f"{name} mounts {sorted(mounts)}"
        assert mounts["/opt/airflow/include"] == "./include"
        env = _env(service)
        assert "/opt/airflow/include" in env["PYTHONPATH"].split(":"), name
        assert env["DOSSIER_MIGRATIONS_DIR"] == "/opt/airflow/sql/migrations", name
        assert env["AIRFLOW_CONN_DOSSIER_DB"].startswith("postgresql://"), name
        assert env["DOSSIER_DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert "@dossier-db:" in env["DOSSIER_DATABASE_URL"], name
        # The master key comes from a Docker secret, never from the file or the environment.
        assert env["DOSSIER_MASTER_KEY_FILE"] == "/run/secrets/dossier_master_key", name
        assert "dossier_master_key" in service["secrets"], name
        assert set(service["secrets"]) <= declared_secrets, name
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env, f"{name}: build the image instead"
    assert REFERENCE.match(compose["secrets"]["dossier_master_key"]["file"])


def test_no_literal_secret_in_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_PATH")):
                assert REFERENCE.match(value), f"{name}: {key} is a literal, use ${{VAR:?…}}"
    for text in _strings(compose):
        for password in URL_PASSWORD.findall(text):
            assert REFERENCE.match(password), f"a password is written in: {text}"
        if '"password"' in text:  # a JSON connection
            assert re.search(r'"password":\s*"\$\{[A-Z_]+:\?[^}]*\}"', text), text
    # Every required variable is a ${VAR:?…}: missing, compose refuses instead of using "".
    raw = COMPOSE.read_text()
    for var in REQUIRED_ENV:
        assert f"${{{var}:?" in raw and f"${{{var}:-" not in raw, var


def test_every_dollar_is_valid_interpolation(compose: dict[str, Any]) -> None:
    for text in _strings(compose):
        rest = DOLLAR.sub("", text)
        assert "$" not in rest, f"bad interpolation (use $$ for a literal $): {text!r}"


def test_dockerfile_builds_on_the_official_image_with_the_pins(compose: dict[str, Any]) -> None:
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines() if ln.strip()
             and not ln.lstrip().startswith("#")]
    assert lines[0] == "FROM apache/airflow:3.3.0-python3.11"
    assert any("requirements.txt" in ln and "pip install" in ln for ln in lines)
    assert (REPO / "requirements.txt").exists()
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["build"] == "."


def test_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    """Schema validation needs no daemon and no compose binary (this machine has neither).

    ``tests/data/compose_spec.json`` is the Compose Specification schema as shipped in
    docker-compose 1.29.2 (Apache-2.0), vendored so the check runs offline.
    """
    import json

    import jsonschema

    schema = json.loads((REPO / "tests" / "data" / "compose_spec.json").read_text())
    jsonschema.validate(compose, schema)
    broken = {**compose, "services": {**compose["services"], "redis": {"imagee": "redis"}}}
    with pytest.raises(jsonschema.ValidationError, match="imagee"):
        jsonschema.validate(broken, schema)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def test_compose_runs_the_topology_of_make_airflow(compose: dict[str, Any]) -> None:
    """One definition (dossiers.airflow.topology) of what runs and how: make airflow
    EXECUTOR=celery starts it on this machine, and the compose file must say the same."""
    from dossiers.airflow import topology

    services = compose["services"]
    components = topology.components(topology.CELERY)
    running = {name for name, s in services.items() if name.startswith("airflow-") and name != "airflow-init"}
    assert running == {c.service for c in components}
    for component in components:
        service = services[component.service]
        assert _command(service) == list(component.command), component.service
        env = _env(service)
        for key, value in topology.SHARED_ENV.items():
            assert env.get(key) == value, f"{component.service}: {key}={env.get(key)!r}, topology: {value!r}"
        assert env["AIRFLOW__CORE__EXECUTOR"] == topology.CELERY
        assert set(topology.EXECUTOR_KEYS[topology.CELERY]) <= set(env), component.service
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")  # never SQLite
    assert services["airflow-worker"]["deploy"]["replicas"] == topology.CELERY_WORKERS
    assert _env(services["airflow-apiserver"])["AIRFLOW__API__WORKERS"] == str(topology.API_WORKERS)
    assert topology.CELERY_APP in " ".join(services["airflow-worker"]["healthcheck"]["test"])


def test_the_local_stack_gets_the_same_settings(tmp_path: Path) -> None:
    """make airflow's processes get the topology's settings, on PostgreSQL (never SQLite)."""
    from dossiers.airflow import topology
    from dossiers.local import airflow_stack

    env = airflow_stack.stack_env({"AIRFLOW_HOME": str(tmp_path)}, executor=topology.CELERY,
                                  metadata="postgresql+psycopg2://postgres@127.0.0.1:5432/d_airflow",
                                  logins={"chen.cs": "user"}, broker_url="redis://127.0.0.1:6379/0")
    assert {k: env[k] for k in topology.SHARED_ENV} == topology.SHARED_ENV
    assert env["AIRFLOW__CORE__EXECUTOR"] == topology.CELERY
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://postgres@127.0.0.1:5432/d_airflow"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,chen.cs:user"
    assert oct((tmp_path / airflow_stack.SECRETS_FILE).stat().st_mode & 0o777) == "0o600"
    # a second start finds the same secrets (tokens issued before stay valid)
    again = airflow_stack.stack_env({"AIRFLOW_HOME": str(tmp_path)}, executor=topology.LOCAL,
                                    metadata="postgresql+psycopg2://postgres@127.0.0.1:5432/d_airflow",
                                    logins={})
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert "AIRFLOW__CELERY__BROKER_URL" not in again
    assert [c.name for c in topology.components(topology.LOCAL)] == [
        "apiserver", "scheduler", "dag-processor", "triggerer"]
