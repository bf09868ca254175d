"""How each target's replicas are told where the live rules are: never a credential."""

from __future__ import annotations

from pathlib import Path

from kwrec.adapters.targets import RULES_DIR_IN_CONTAINER
from kwrec.pipeline.deploy import rules_wiring
from kwrec.settings import RulesSettings, S3Settings, Settings


def test_a_local_store_is_mounted_into_docker_containers(tmp_path: Path) -> None:
    wiring = rules_wiring(Settings(store=str(tmp_path / "store")), "docker", print)
    assert wiring.host_store == str(tmp_path / "store")
    assert wiring.env == {"KWREC_RULES__STORE": RULES_DIR_IN_CONTAINER, "KWREC_RULES__POLL_SECONDS": "10"}


def test_an_s3_store_is_named_with_its_endpoint_and_read_with_the_tasks_role() -> None:
    settings = Settings(
        store="s3://kwrec-prod/releases",
        s3=S3Settings(endpoint_url="https://s3.ap-northeast-2.amazonaws.com", region="ap-northeast-2"),
        rules=RulesSettings(poll_seconds=5),
    )
    for kind in ("docker", "ecs"):
        wiring = rules_wiring(settings, kind, print)
        assert wiring.host_store is None
        assert wiring.env == {
            "KWREC_RULES__STORE": "s3://kwrec-prod/releases",
            "KWREC_RULES__POLL_SECONDS": "5",
            "KWREC_S3__REGION": "ap-northeast-2",
            "KWREC_S3__ENDPOINT_URL": "https://s3.ap-northeast-2.amazonaws.com",
        }


def test_rules_off_or_unreachable_are_said(tmp_path: Path) -> None:
    lines: list[str] = []
    off = rules_wiring(
        Settings(store=str(tmp_path), rules=RulesSettings(enabled=False)), "docker", lines.append
    )
    assert off.env == {"KWREC_RULES__ENABLED": "false"} and not lines
    ecs = rules_wiring(Settings(store=str(tmp_path)), "ecs", lines.append)
    assert ecs.env == {"KWREC_RULES__ENABLED": "false"}
    assert lines and "cannot read the local store" in lines[0]
