"""--show-config resolves tables to sections when AWS is reachable (D22), offline otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from demo.seed import create_table
from dynamic_dynamodb.aws.clients import Clients
from tests.conftest import run_cli

CONFIG = "[table: ^orders$]\n[table: ^ord]\n[table: ^users]\n"


def test_show_config_names_the_section_each_table_resolved_to(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    for name in ("orders", "orders_archive", "other"):
        create_table(server_clients.dynamodb, name, 5, 5)
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)

    result = run_cli(["-c", str(conf), "--show-config"], endpoint=moto_endpoint)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["resolution"] == {
        "orders": "[table: ^orders$]",
        "orders_archive": "[table: ^ord]",
        "other": None,
    }
    assert list(shown["tables"]) == ["^orders$", "^ord", "^users"]


def test_show_config_without_credentials_stays_offline(tmp_path: Path) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}

    result = run_cli(["-c", str(conf), "--show-config"], extra_env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resolution"].startswith("not shown: no AWS credentials")


def test_show_config_uses_the_credentials_of_the_global_section(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    create_table(server_clients.dynamodb, "orders", 5, 5)
    conf = tmp_path / "dd.conf"
    conf.write_text("[global]\naws-access-key-id: AKIAFROMFILE\n"
                    "aws-secret-access-key-id: secret-from-file\n" + CONFIG)
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}

    result = run_cli(["-c", str(conf), "--show-config"], endpoint=moto_endpoint, extra_env=env)

    shown = json.loads(result.stdout)
    assert shown["resolution"] == {"orders": "[table: ^orders$]"}
    assert shown["global"]["aws-secret-access-key-id"] == "***"
    assert "secret-from-file" not in result.stdout + result.stderr


def test_show_config_masks_the_external_id(tmp_path: Path) -> None:
    """An ExternalId is a secret shared with the role's owner: masked like the keys."""
    conf = tmp_path / "dd.conf"
    conf.write_text("[default_options]\nrole-arn: arn:aws:iam::222222222222:role/dd\n"
                    "external-id: shared-s3cret\n[table: ^orders$]\n")
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}

    result = run_cli(["-c", str(conf), "--show-config"], extra_env=env)

    assert result.returncode == 0, result.stderr
    assert "shared-s3cret" not in result.stdout + result.stderr
    assert '"external-id": "***"' in result.stdout
