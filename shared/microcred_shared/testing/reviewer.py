"""The example rule-based reviewer on a running platform, as an institution would run it.

``provision_reviewer`` gets its Kafka principal the documented way (``microcred kafka reviewer``,
limited by ACLs to the institution's review topics); ``reviewer_process`` runs it as its own
process. Used by the external-review end-to-end test and by the pipeline benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from microcred_shared.testing.servers import Servers

BIN = Path(sys.executable).parent
STOP_SECONDS = 20


async def provision_reviewer(servers: Servers, institution_id: str) -> dict[str, str]:
    """``REVIEWER_*`` variables connecting the reviewer as ``microcred kafka reviewer`` says.

    Against a broker that does not authenticate (servers named by the environment, plaintext)
    there is no principal to provision: the reviewer then connects as the platform does.
    """
    admin = servers.kafka
    if admin.credentials is None:
        kafka = servers.kafka_platform.settings_env()
        return {
            name.replace("MICROCRED_KAFKA_", "REVIEWER_KAFKA_"): value
            for name, value in kafka.items()
        }
    process = await asyncio.create_subprocess_exec(
        str(BIN / "microcred"),
        "kafka",
        "reviewer",
        institution_id,
        env={
            **os.environ,
            "MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS": admin.bootstrap_servers,
            "MICROCRED_KAFKA_ADMIN_SECURITY_PROTOCOL": admin.credentials.security_protocol,
            "MICROCRED_KAFKA_ADMIN_SASL_MECHANISM": admin.credentials.mechanism,
            "MICROCRED_KAFKA_ADMIN_SASL_USERNAME": admin.credentials.username,
            "MICROCRED_KAFKA_ADMIN_SASL_PASSWORD": admin.credentials.password,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"microcred kafka reviewer failed: {stderr.decode()}")
    credentials = json.loads(stdout)
    return {
        "REVIEWER_KAFKA_BOOTSTRAP_SERVERS": credentials["bootstrap_servers"],
        "REVIEWER_KAFKA_SECURITY_PROTOCOL": credentials["security_protocol"],
        "REVIEWER_KAFKA_SASL_MECHANISM": credentials["sasl_mechanism"],
        "REVIEWER_KAFKA_SASL_USERNAME": credentials["username"],
        "REVIEWER_KAFKA_SASL_PASSWORD": credentials["password"],
    }


@contextlib.asynccontextmanager
async def reviewer_process(env: Mapping[str, str], log: Path) -> AsyncIterator[int]:
    """``python -m rule_based_reviewer`` until the block ends (its pid), then SIGTERM.

    A reviewer that exited before the block ended is an error naming its log.
    """
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rule_based_reviewer",
            env={**os.environ, **env},
            stdout=output,
            stderr=output,
        )
        try:
            yield process.pid
            if process.returncode is not None:
                raise RuntimeError(f"the reviewer exited early; its log is {log}")
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), STOP_SECONDS)
                except TimeoutError:
                    process.kill()
                    await process.wait()
