from __future__ import annotations

from pathlib import Path

import pytest

from loci.config import SETTINGS, Settings, load_settings, settings_markdown
from loci.errors import ConfigError


def test_defaults(loci_home: Path) -> None:
    s = load_settings(env={"LOCI_HOME": str(loci_home)})
    assert s.model == "local" and s.home == loci_home and s.db_path.parent == loci_home
    assert not s.auto_run and s.max_steps >= 1


def test_precedence_file_then_env_then_flags(loci_home: Path) -> None:
    loci_home.mkdir()
    (loci_home / "config.toml").write_text(
        'model = "openai:from-file"\ntimeout = 30\nauto_run = true\napi_base = "http://file"\n'
    )
    env = {"LOCI_HOME": str(loci_home), "LOCI_MODEL": "openai:from-env"}
    s = load_settings(env=env)
    assert (s.model, s.timeout, s.auto_run, s.api_base) == (
        "openai:from-env",
        30.0,
        True,
        "http://file",
    )
    s = load_settings({"model": "scripted:x.json", "timeout": None}, env=env)
    assert s.model == "scripted:x.json" and s.timeout == 30.0
    assert load_settings({"timeout": 0}, env=env).timeout is None


def test_malformed_config_names_file_and_line(loci_home: Path) -> None:
    loci_home.mkdir()
    path = loci_home / "config.toml"
    path.write_text('model = "ok"\ntimeout = = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(env={"LOCI_HOME": str(loci_home)})
    assert str(path) in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize(
    "line", ['auto_run = "yes"', "timeout = -1", 'colour = "red"', "max_steps = 0"]
)
def test_bad_values_are_config_errors(loci_home: Path, line: str) -> None:
    loci_home.mkdir()
    (loci_home / "config.toml").write_text(line + "\n")
    with pytest.raises(ConfigError):
        load_settings(env={"LOCI_HOME": str(loci_home)})


def test_every_field_but_home_and_started_in_is_a_declared_setting() -> None:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(Settings)}
    assert set(SETTINGS) == fields - {"home", "started_in"}
    assert all(s.help and s.name for s in SETTINGS.values())


def test_each_environment_variable_sets_its_setting(loci_home: Path) -> None:
    declared = {s.env: s.name for s in SETTINGS.values() if s.env}
    assert declared["OPENAI_API_KEY"] == "api_key" and declared["LOCI_SANDBOX"] == "sandbox"
    for var, name in declared.items():
        strict = {"sandbox": "off", "kernel_gateway": "http://gw:8888", "compact_with": "digest"}
        value = strict.get(name, "/from-env")
        s = load_settings(env={"LOCI_HOME": str(loci_home), var: value})
        assert str(getattr(s, name)) == value, var
        assert getattr(load_settings(env={"LOCI_HOME": str(loci_home), var: ""}), name) == (
            SETTINGS[name].default
        )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"timeout": -1.5}, "timeout must be >= 0 seconds, got -1.5"),
        ({"max_steps": 0}, "max_steps must be at least 1, got 0"),
        ({"sandbox": "jail"}, "sandbox must be one of off, workspace, readonly, got 'jail'"),
        ({"memory_mb": -1}, "memory_mb must be >= 0, got -1"),
        ({"kernel_gateway": "gw"}, "kernel_gateway must be an http:// or https:// URL, got 'gw'"),
    ],
)
def test_a_broken_rule_names_the_setting_and_the_value(
    flags: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(flags)
    assert str(err.value) == message


def test_the_readme_table_is_made_from_the_declarations() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings table: made by loci.config.settings_markdown() -->\n")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- end of settings table -->")]
    assert table == settings_markdown(), (
        "README.md's settings table is out of date; replace it with the output of\n"
        "python -c 'from loci.config import settings_markdown; print(settings_markdown())'"
    )


# -- [mcp_servers.NAME] tables ------------------------------------------------------------


def _with_config(loci_home: Path, text: str) -> Settings:
    loci_home.mkdir(exist_ok=True)
    (loci_home / "config.toml").write_text(text)
    return load_settings(env={"LOCI_HOME": str(loci_home)})


def test_mcp_servers_in_the_shape_other_clients_use(loci_home: Path) -> None:
    s = _with_config(
        loci_home,
        """
[mcp_servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/data"]
env = { DEBUG = "1" }

[mcp_servers.weather]
url = "https://weather.example/mcp"
headers = { Authorization = "Bearer x" }
timeout = 5
enabled = false
""",
    )
    files, weather = s.mcp_servers
    assert (files.name, files.command, files.env) == ("files", "npx", (("DEBUG", "1"),))
    assert files.args == ("-y", "@modelcontextprotocol/server-filesystem", "/data")
    assert files.timeout == 60.0 and files.enabled and not files.url
    assert (weather.url, weather.headers) == (
        "https://weather.example/mcp",
        (("Authorization", "Bearer x"),),
    )
    assert weather.timeout == 5.0 and not weather.enabled
    assert load_settings(env={"LOCI_HOME": str(loci_home / "none")}).mcp_servers == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('command = "x"\nurl = "http://y"', "mcp_servers.s needs command (a program loci starts) "
         "or url (a streamable HTTP endpoint), not both"),
        ("timeout = 3", "mcp_servers.s needs command (a program loci starts) or url (a "
         "streamable HTTP endpoint)"),
        ('command = "x"\ncwd = "/"', "mcp_servers.s: unknown key 'cwd' (known: command, args, "
         "env, url, headers, timeout, enabled, type)"),
        ('command = "x"\nargs = "-v"', "mcp_servers.s.args has the wrong type (str)"),
        ('command = "x"\nargs = [1]', "mcp_servers.s: args, env and headers hold strings only"),
        ('command = "x"\ntimeout = 0', "mcp_servers.s.timeout must be > 0 seconds, got 0"),
        ('command = "x"\nenabled = "no"', "mcp_servers.s.enabled has the wrong type (str)"),
        ('url = "ftp://y"', "mcp_servers.s.url must be an http:// or https:// URL, got 'ftp://y'"),
        ('url = "http://y"\ntype = "sse"', "mcp_servers.s.type is 'sse': loci speaks stdio (with "
         "command) and streamable HTTP (with url), not SSE"),
    ],
)  # fmt: skip
def test_a_bad_mcp_server_table_says_what_is_wrong(
    loci_home: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _with_config(loci_home, f"[mcp_servers.s]\n{table}\n")
    assert str(err.value) == message


def test_mcp_servers_must_be_tables(loci_home: Path) -> None:
    with pytest.raises(ConfigError, match="mcp_servers has the wrong type"):
        _with_config(loci_home, 'mcp_servers = "x"\n')
    with pytest.raises(ConfigError, match=r"mcp_servers\.x must be a table"):
        _with_config(loci_home, "mcp_servers = { x = 1 }\n")
