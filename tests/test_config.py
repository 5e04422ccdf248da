"""Configuration loading: validation messages, env interpolation, shipped files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import default_config_path, load_config, parse_config
from gateway.errors import ConfigError
from tests.conftest import DEMO_REGISTRY, make_config

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
upstreams:
  - name: dockstore
    url: https://dockstore.org/api/ga4gh/trs/v2
    flavor: dockstore
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.yaml")
    return info.value.problems


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(MINIMAL, "test.yaml")
    assert config.server.port == 8080
    assert config.server.base_paths == ["/ga4gh/trs/v2", "/api/ga4gh/trs/v2", "/api/ga4gh/v2"]
    assert config.federation.deadline == 3
    assert config.upstreams[0].timeout == 5
    assert config.cache.redis_url is None


def test_unknown_key_is_named_with_file_and_path() -> None:
    found = problems(MINIMAL + "    colour: blue\n")
    assert found == ["test.yaml: upstreams[0].colour: unknown key"]


def test_every_error_is_reported_not_just_the_first() -> None:
    text = """
server: {port: 99999}
upstreams:
  - {name: Bad_Name, url: ftp://x, flavor: nonsense}
federation: {deadline: -1}
"""
    found = problems(text)
    joined = "\n".join(found)
    assert "test.yaml: server.port:" in joined
    assert "test.yaml: upstreams[0].name:" in joined
    assert "test.yaml: upstreams[0].url:" in joined
    assert "test.yaml: upstreams[0].flavor:" in joined
    assert "test.yaml: federation.deadline:" in joined


def test_duplicate_upstream_names_are_rejected() -> None:
    text = MINIMAL + "  - {name: dockstore, url: https://other.example/trs}\n"
    assert any("used twice" in p for p in problems(text))


def test_env_interpolation_fills_secrets_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_FOR_TEST", "s3cret")
    text = (
        MINIMAL
        + "    auth: {bearer_token: '${TOKEN_FOR_TEST}'}\nfederation: {deadline: '${NOPE_X:-7}'}\n"
    )
    config = parse_config(text, "test.yaml")
    auth = config.upstreams[0].auth
    assert auth is not None and auth.as_headers() == {"Authorization": "Bearer s3cret"}
    assert config.federation.deadline == 7
    assert "s3cret" not in repr(config)


def test_missing_env_var_is_an_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_FOR_TEST", raising=False)
    found = problems(MINIMAL + "    auth: {bearer_token: '${UNSET_FOR_TEST}'}\n")
    assert found == [
        "test.yaml: upstreams[0].auth.bearer_token: environment variable UNSET_FOR_TEST is not set"
    ]


def test_yaml_syntax_error_gives_line_number() -> None:
    found = problems("upstreams:\n  - name: [unclosed\n")
    assert len(found) == 1 and "line" in found[0] and found[0].startswith("test.yaml:")


def test_file_urls_resolve_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "tree" / "tools").mkdir(parents=True)
    (tmp_path / "tree" / "tools" / "index.json").write_text("[]")
    path = tmp_path / "gw.yaml"
    path.write_text("upstreams:\n  - {name: local, url: 'file:tree', flavor: static}\n")
    config = load_config(path)
    assert config.upstreams[0].url == (tmp_path / "tree").as_uri()


def test_file_url_needs_static_flavor() -> None:
    url = DEMO_REGISTRY.as_uri()
    found = problems(f"upstreams:\n  - {{name: local, url: '{url}', flavor: dockstore}}\n")
    assert any("flavor: static" in p for p in found)


@pytest.mark.parametrize("make", ["nothing", "an empty directory"])
def test_a_static_tree_that_is_not_there_is_a_config_error(tmp_path: Path, make: str) -> None:
    tree = tmp_path / "tree"
    if make == "an empty directory":
        tree.mkdir()
    path = tmp_path / "gw.yaml"
    path.write_text("upstreams:\n  - {name: local, url: 'file:tree', flavor: static}\n")
    with pytest.raises(ConfigError) as failure:
        load_config(path)
    [problem] = failure.value.problems
    assert "upstreams[0].url" in problem
    assert ("no directory" if make == "nothing" else "no tools/index.json") in problem


@pytest.mark.parametrize(
    "path", [default_config_path(), REPO / "config" / "gateway.example.yaml"], ids=str
)
def test_shipped_configurations_are_valid(path: Path) -> None:
    config = load_config(path)
    assert config.upstreams


def test_default_config_serves_the_demo_registry_offline() -> None:
    config = load_config(default_config_path())
    demo = config.upstream("demo")
    assert demo is not None and demo.is_file
    assert Path(demo.url.removeprefix("file://"), "tools", "index.json").is_file()


def test_config_env_var_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(MINIMAL)
    monkeypatch.setenv("TRS_GATEWAY_CONFIG", str(path))
    assert load_config().upstreams[0].name == "dockstore"


def test_check_config_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(MINIMAL)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "dockstore" in out and "deadline 3s" in out


def test_check_config_exits_2_and_lists_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("upstreams:\n  - {name: X, url: nope, timeout: 0}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: upstreams[0].name:" in err
    assert f"{path}: upstreams[0].url:" in err
    assert f"{path}: upstreams[0].timeout:" in err


def test_check_config_on_missing_file_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_empty_cursor_secret_means_derive_one() -> None:
    config = make_config(
        [{"name": "a", "url": "https://a.example/ga4gh/trs/v2"}],
        federation={"cursor_secret": "  "},
    )
    assert config.federation.cursor_secret is None
    assert config.cursor_key() != b""


@pytest.mark.parametrize("name", ["doi", "repo", "curie", "trs", "alias", "image", "gw"])
def test_upstream_names_that_spell_identity_keys_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        parse_config(f"upstreams: [{{name: {name}, url: 'https://x.example'}}]", "t.yaml")


@pytest.mark.parametrize("name", ["github.com", "gitlab.com", "bitbucket.org"])
def test_upstream_names_that_would_capture_dockstore_ids_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"#workflow/.*would be read"):
        parse_config(f"upstreams: [{{name: {name}, url: 'https://x.example'}}]", "t.yaml")


def test_redirect_origins_must_be_origins() -> None:
    with pytest.raises(ConfigError, match="origin only"):
        parse_config(
            "upstreams: [{name: a, url: 'https://a.example', "
            "allow_redirects_to: ['https://cdn.example/path']}]",
            "t.yaml",
        )
    config = parse_config(
        "upstreams: [{name: a, url: 'https://a.example', "
        "allow_redirects_to: ['HTTPS://CDN.example:8443']}]",
        "t.yaml",
    )
    assert config.upstreams[0].allow_redirects_to == ["https://cdn.example:8443"]


def test_an_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "upstreams: [{name: a, url: 'https://a.example'}]\n"
        f"server: {{access: {{token_files: ['{tmp_path / 'missing'}']}}}}\n"
    )
    with pytest.raises(ConfigError) as failure:
        load_config(path)
    [problem] = failure.value.problems
    assert "server.access" in problem and "cannot read" in problem
