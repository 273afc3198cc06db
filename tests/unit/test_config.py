from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.loading import load_config, parse_config
from gateway.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "config" / "gateway.example.yaml"


def test_example_configuration_loads_as_is() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.portal.base_url == "http://127.0.0.1:8765"
    assert config.portal.password == "simulator"
    assert config.store.path == Path("var/gateway.db")
    assert "canonical" in config.intake.sources


def test_environment_references_are_substituted() -> None:
    config = load_config(EXAMPLE, environ={"DVCQG_PASSWORD": "bí mật", "INTAKE_TOKEN": "t"})
    assert config.portal.password == "bí mật"
    assert config.intake.sources["canonical"].token == "t"


def test_every_error_is_reported_at_once_with_its_path() -> None:
    document = {
        "portal": {
            "base_url": "ftp://x",
            "username": "u",
            "password": "${MISSING}",
            "timeout_s": "soon",
        },
        "delivery": {"concurrency": 0, "retyr": {}},
        "logging": {"format": "xml"},
        "extra": 1,
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    paths = {p.path for p in caught.value.problems}
    assert {
        "portal.password",
        "portal.timeout_s",
        "delivery.retyr",
        "logging.format",
        "extra",
    } <= paths


def test_rules_across_values_are_checked_after_types() -> None:
    document = {
        "portal": {"base_url": "ftp://x", "username": "u", "password": "p"},
        "delivery": {"concurrency": 0},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    paths = {p.path for p in caught.value.problems}
    assert paths == {"portal.base_url", "delivery.concurrency"}


def test_missing_portal_section_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({}, environ={})
    assert [p.path for p in caught.value.problems] == ["portal"]


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("portal: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, environ={})


def test_check_config_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "portal: {base_url: 'http://x', username: u, password: p}\n"
        "intake: {sources: {canonical: {adapter: nonexistent}}}\n",
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "intake.sources.canonical.adapter" in err
    assert "nonexistent" in err
