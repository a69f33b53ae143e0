"""A client generated from ``/openapi.json`` by a standard generator (openapi-python-client,
run offline into a temporary folder) imagines, follows the task to SUCCESS and reads an error:
the document is good enough for the tools people point at it."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import ADMIN_TOKEN, Gateway, ServedApp


@pytest.fixture
def import_path(tmp_path: Path) -> Iterator[Path]:
    """A folder importable for the test's length; what was imported from it is forgotten."""
    before = set(sys.modules)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in set(sys.modules) - before:
        del sys.modules[name]


async def generate_client(spec: bytes, folder: Path) -> Any:
    """Run the generator on the spec; the generated package, imported."""
    package = f"mjgate_generated_{uuid.uuid4().hex[:8]}"
    (folder / "openapi.json").write_bytes(spec)
    # No post hooks (they would run ruff over the output): nothing but the generator runs.
    (folder / "config.yaml").write_text(f"post_hooks: []\npackage_name_override: {package}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(folder / "openapi.json"),
        "--output-path",
        str(folder / package),
        "--meta",
        "none",
        "--config",
        str(folder / "config.yaml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    importlib.invalidate_caches()
    return importlib.import_module(package)


async def test_a_generated_client_imagines_and_fetches(
    served: ServedApp, gateway: Gateway, import_path: Path
) -> None:
    spec = (await gateway.http.get("/openapi.json")).content
    generated = await generate_client(spec, import_path)
    imagine = importlib.import_module(f"{generated.__name__}.api.submit.imagine")
    fetch = importlib.import_module(f"{generated.__name__}.api.tasks.fetch")
    models = importlib.import_module(f"{generated.__name__}.models")

    client = generated.AuthenticatedClient(
        base_url=served.base_url, token=ADMIN_TOKEN, raise_on_unexpected_status=True
    )
    async with client:
        answer = await imagine.asyncio(
            client=client, body=models.ImagineBody(prompt="a lighthouse at dusk --ar 3:2")
        )
        assert isinstance(answer, models.SubmitAnswer), answer
        assert answer.code == 1 and answer.description == "Submit success"
        task_id = answer.result

        deadline = time.monotonic() + 20
        while True:
            task = await fetch.asyncio(client=client, task_id=task_id)
            assert isinstance(task, models.Task), task
            if task.status == models.TaskStatus.SUCCESS:
                break
            assert time.monotonic() < deadline, task
            await asyncio.sleep(0.05)
        assert task.id == task_id and task.progress == "100%"
        assert task.action == models.TaskAction.IMAGINE
        assert task.mode == models.Mode.FAST
        assert len(task.image_urls) == 4 and task.image_urls[0].url.startswith("http")
        assert task.properties.final_zh_prompt == ""
        assert [b.label for b in task.buttons][:4] == ["U1", "U2", "U3", "U4"]

        missing = await fetch.asyncio(client=client, task_id="1712158011464906")
        assert isinstance(missing, models.ErrorEnvelope), missing
        assert missing.code == 3 and missing.description == "task_not_found"
        assert missing.properties.message

    # The other security scheme, a token the server does not know: a declared 401.
    stranger = generated.Client(
        base_url=served.base_url,
        headers={"mj-api-secret": "mjg_unknown"},
        raise_on_unexpected_status=True,
    )
    async with stranger:
        refused = await fetch.asyncio_detailed(client=stranger, task_id=task_id)
    assert refused.status_code == 401
    assert refused.parsed.description == "unauthorized"
