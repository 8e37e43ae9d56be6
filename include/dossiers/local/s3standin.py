"""An S3 stand-in for the demo: moto's S3 server on loopback with one bucket that has Object
Lock, so ``make demo`` ships its off-site copy (Art. 18) without a real S3. Never used in
production (the connection ``dossier_s3`` and ``DOSSIER_BACKUP_OFFSITE`` are). Its objects
live in memory: they are gone when the demo ends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

BUCKET = "dossier-offsite"


def available() -> bool:
    """moto is a development dependency: the stand-in runs only where it is installed."""
    return (Path(sys.executable).parent / "moto_server").is_file()


class LocalS3:
    """``with LocalS3() as s3: env.update(s3.environment())``"""

    def __init__(self) -> None:
        self.port = 0
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalS3:
        import boto3

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for the port to answer
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.1)
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="demo", aws_secret_access_key="demo").create_bucket(
            Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(10)

    def environment(self) -> dict[str, str]:
        """The environment naming this server as ``dossier_s3`` and its bucket as the
        off-site store."""
        return {"AIRFLOW_CONN_DOSSIER_S3": json.dumps({
                    "conn_type": "aws", "login": "demo", "password": "demo",
                    "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"}}),
                "DOSSIER_BACKUP_OFFSITE": f"s3://{BUCKET}/demo"}
