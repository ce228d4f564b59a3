"""reports/containers.md: the container chaos of each broker, its restart times, the image."""

import json
import os
from dataclasses import asdict
from pathlib import Path

from tests.chaos.checker import ChaosReport
from tests.chaos.table import aligned, format_table
from tests.containers.compose_stack import ComposeStack
from tests.containers.nemesis import Restart
from tests.processes import PROJECT_ROOT

REPORT_DIR = Path(os.environ.get("CONTAINER_REPORT_DIR", "reports/containers"))
BUILD_NOTE = PROJECT_ROOT / "var" / "containers" / "build.txt"


def record(
    compose: ComposeStack, report: ChaosReport, restarts: list[Restart], seconds: float
) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{compose.broker}.json").write_text(
        json.dumps(
            {
                "broker": compose.broker,
                "report": report.as_row(),
                "restarts": [asdict(r) for r in restarts],
                "start_to_healthy": compose.start_to_healthy,
                "seconds": round(seconds, 1),
            },
            indent=1,
        )
    )
    write_markdown()


def write_markdown() -> Path:
    runs = [json.loads(p.read_text()) for p in sorted(REPORT_DIR.glob("*.json"))]
    lines = ["# Container chaos (make compose-chaos)", ""]
    if BUILD_NOTE.exists():
        lines += [f"App {BUILD_NOTE.read_text().strip()}.", ""]
    lines += [
        "Each broker: the compose stack under Podman, the chaos load through the published web",
        "port, then under load one after another: SIGKILL a worker's container mid-task, restart",
        "the broker's container (workers paused: the queue must still be there), SIGKILL the",
        "beat leader's container, restart PostgreSQL's container. Then tests/chaos/checker.py.",
        "",
        "## Invariants",
        "",
        format_table([{**r["report"], "scenario": r["report"]["scenario"]} for r in runs]),
        "",
        "## Restart time: from the fault to the container healthy again",
        "",
        aligned(
            ["broker", "fault", "container", "s to healthy", "note"],
            [
                [
                    r["broker"],
                    x["fault"],
                    x["container"],
                    f"{x['seconds_to_healthy']:.1f}",
                    x["note"],
                ]
                for r in runs
                for x in r["restarts"]
            ],
        ),
        "",
        "## Start to healthy, at `up`",
        "",
        aligned(
            ["broker", "container", "s"],
            [
                [r["broker"], name, f"{seconds:.1f}"]
                for r in runs
                for name, seconds in sorted(r["start_to_healthy"].items())
            ],
        ),
        "",
        aligned(["broker", "whole run s"], [[r["broker"], f"{r['seconds']:.0f}"] for r in runs]),
        "",
    ]
    path = REPORT_DIR.parent / "containers.md"
    path.write_text("\n".join(lines))
    return path
