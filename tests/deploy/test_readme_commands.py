"""README's quick start and API commands, run as written in a fresh terminal (issue 19).

The commands are read from README.md, not copied, so the README cannot drift from what
works. A fresh terminal has no DEBUG, no secrets and no virtualenv on its PATH; it only
knows where the stack is (README's own recipe for a second stack: ports, VAR_DIR,
DATABASE_URL), because the test's stack runs on free ports and the test database.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from payments.api_keys import FULL_KEY_PREFIX
from tests import processes
from tests.deploy.make_up import PORT_VARIABLES, MakeUp, make_up

pytestmark = pytest.mark.integration

README = processes.PROJECT_ROOT / "README.md"


def code_blocks(section: str) -> list[str]:
    """The indented code blocks of a `## section`, before its first `###` subsection."""
    body = README.read_text().split(f"\n## {section}\n", 1)[1]
    body = body.split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks: list[str] = []
    current: list[str] = []
    for line in [*body.splitlines(), "end"]:
        if line.startswith("    ") or (current and not line.strip()):
            current.append(line[4:])
        elif current:
            blocks.append("\n".join(current).strip())
            current = []
    return blocks


def commands(block: str) -> list[str]:
    """Each line of a block of one-line commands, its trailing comment dropped."""
    return [line.split("#", 1)[0].strip() for line in block.splitlines()]


def fresh_terminal(stack: MakeUp) -> dict[str, str]:
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if entry != str(processes.BIN)
    )
    located = {name: stack.env[name] for name in (*PORT_VARIABLES, "VAR_DIR", "DATABASE_URL")}
    return {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", **located}


def run(command: str, env: dict[str, str], stack: MakeUp) -> subprocess.CompletedProcess[str]:
    """`command` in bash from the project root, pointed at the test's stack."""
    command = command.replace("127.0.0.1:8000", f"127.0.0.1:{stack.port('WEB_PORT')}")
    command = command.replace(".venv/bin/", f"{processes.BIN}/")
    return subprocess.run(
        ["bash", "-c", command],
        cwd=processes.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON bodies several `curl -s` print one after another."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while index < len(text.rstrip()):
        document, index = decoder.raw_decode(text, index)
        found.append(document)
        while index < len(text) and text[index].isspace():
            index += 1
    return found


def test_readme_lists_the_quick_start_and_api_commands():
    quick_start = [command for block in code_blocks("Quick start") for command in commands(block)]
    assert quick_start == ["make up", "make test", "make demo", "make ps"]
    create_client, pay, read_back = code_blocks("The API")
    assert create_client.startswith(".venv/bin/python manage.py create_api_client ")
    assert "-X" not in pay and "curl -s http://127.0.0.1:8000/api/v1/payments" in pay
    assert read_back.count("curl -s") == 2


def test_production_still_refuses_development_secrets_with_a_development_env_file(tmp_path):
    subprocess.run(["make", "--silent", ".env"], cwd=processes.PROJECT_ROOT, check=True)
    result = subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "check"],
        cwd=processes.PROJECT_ROOT,
        env={"PATH": os.environ["PATH"], "DEBUG": "False"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DEBUG=False needs real secrets" in result.stderr


# About 90 s alone (make demo waits for its payments); the margin is for a shared machine.
@pytest.mark.timeout(600)
def test_readme_commands_work_as_written_in_a_fresh_terminal(transactional_db, tmp_path: Path):
    # `make up` writes .env first (the step a fresh clone's user never sees), then runs up.sh.
    subprocess.run(["make", "--silent", ".env"], cwd=processes.PROJECT_ROOT, check=True)
    database_url = processes.test_environment("")["DATABASE_URL"]
    with make_up(tmp_path / "var", database_url) as stack:
        env = fresh_terminal(stack)
        # Given the stack README's `make up` starts: its second block, as written.
        output = {}
        for command in commands(code_blocks("Quick start")[1]):
            result = run(command, env, stack)
            assert result.returncode == 0, result.stdout + result.stderr
            print(f"$ {command}\n{result.stdout}")
            output[command] = result.stdout
        assert "card accepted" in output["make demo"]
        assert "worker1" in output["make ps"] and "RUNNING" in output["make ps"]

        # When a new user follows "The API" in a fresh terminal.
        create_client, pay, read_back = code_blocks("The API")
        created = run(create_client, env, stack)
        assert created.returncode == 0, created.stderr
        print(f"$ {create_client}\n{created.stdout}")
        api_key = created.stdout.strip().splitlines()[-1]
        assert api_key.startswith(FULL_KEY_PREFIX), created.stdout

        paid = run(pay, {**env, "API_KEY": api_key}, stack)
        (payment,) = json_documents(paid.stdout)
        print(f"$ {pay}\n{paid.stdout}")
        assert (payment["amount"], payment["currency"]) == (2000, "USD")
        assert payment["status"] in {"pending", "processing", "succeeded"}

        # Then reading it back shows it charged, and the list holds it.
        deadline = time.monotonic() + 60
        while True:
            read = run(read_back, {**env, "API_KEY": api_key, "PAYMENT_ID": payment["id"]}, stack)
            one, listing = json_documents(read.stdout)
            if one["status"] == "succeeded" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(f"$ {read_back}\n{read.stdout}")
        assert one["status"] == "succeeded"
        assert [item["id"] for item in listing["results"]] == [payment["id"]]
