"""ImportProgress: an import's progress (0–100), from PostgreSQL's state and Redis's chunks.

The API's answers themselves are built as the models of web.schemas by ImportResponseBuilder
(importer.services.responses).
"""

from __future__ import annotations

from importer.models import (
    STEP_ORDER,
    DataImport,
    DiscoveryFlow,
    ImportStatus,
    Run,
    RunStatus,
    Step,
)

# How much of the whole each step is worth in the import's progress.
STEP_WEIGHTS = {Step.VALIDATE: 40, Step.MAPPINGS: 10, Step.DISCOVERY: 50}


class ImportProgress:
    @staticmethod
    def shows_live_progress(runs: list[Run]) -> bool:
        """Whether step_progress reads Redis's chunk progress for any of these runs."""
        return any(run.status == RunStatus.RUNNING and run.name != Step.DISCOVERY for run in runs)

    @staticmethod
    def step_progress(run: Run, flow: DiscoveryFlow | None, live_progress: dict[str, int]) -> int:
        """0–100 from PostgreSQL's state, refined by Redis's chunk progress while running."""
        if run.status == RunStatus.SUCCEEDED:
            return 100
        if run.status != RunStatus.RUNNING:
            return 0
        if run.name == Step.DISCOVERY:
            return 0 if flow is None else flow.progress
        return live_progress.get(run.name, 0)

    def progress(
        self,
        data_import: DataImport,
        runs: list[Run],
        flow: DiscoveryFlow | None,
        live_progress: dict[str, int],
    ) -> int:
        if data_import.status == ImportStatus.COMPLETED:
            return 100
        latest = {Step(run.name): run for run in runs}
        total = sum(
            STEP_WEIGHTS[step] * self.step_progress(latest[step], flow, live_progress) / 100
            for step in STEP_ORDER
            if step in latest
        )
        return min(99, int(total))
