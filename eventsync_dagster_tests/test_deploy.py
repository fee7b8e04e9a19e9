"""Beyond one machine: Dagster's storage in PostgreSQL, other dlt destinations by config only."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from eventsync_dagster.warehouse import Warehouse
from eventsync_dagster_tests.conftest import REPO, failure_messages, materialize

DEPLOY = REPO / "deploy"


def test_the_postgres_instance_example_keeps_runs_in_postgres(
    project_env: dict[str, str],
    postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "postgres_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres ships psycopg2.
    url = postgres_database.replace("postgresql://", "postgresql+psycopg2://")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    with dg.DagsterInstance.get() as instance:
        result = materialize("eventee/partners", instance=instance)
        assert result.success, failure_messages(result)
    shutil.rmtree(home / "storage", ignore_errors=True)  # nothing of it lives on local disk
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_latest_materialization_event(dg.AssetKey(["eventee", "partners"]))


def test_the_kubernetes_example_is_complete_instance_config() -> None:
    config = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert "eventsync-keys" in launcher["config"]["env_secrets"]
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}


@pytest.mark.parametrize("destination", ["motherduck", "snowflake", "bigquery"])
def test_other_destinations_by_config_only(destination: str) -> None:
    # No credentials and no network here: what can be checked is that the configuration alone
    # builds the pipeline and picks a loader file format the destination takes.
    warehouse = Warehouse(destination=destination)
    with warehouse.pipeline("luma") as pipeline:
        assert pipeline.destination.destination_name == destination
        assert pipeline.dataset_name == "luma"
    assert warehouse.loader_file_format == "jsonl"
