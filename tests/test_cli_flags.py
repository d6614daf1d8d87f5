"""The command line as a user meets it: every flag has its KSPAN_* variable, bad values get our
own clear errors (never argparse's, never a secret echoed), summaries read as English, and CI
runs the browser tests instead of skipping them."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kspan_py.cli import (
    DURATION,
    _duration_flags,
    _parser,
    cluster_settings,
    explain_settings,
    live_settings,
    main,
    replay_settings,
)
from tests.tracing import ROOT

POSITIONALS = {"replay": [], "run": [], "explain": ["pod/web-1"], "record": ["out.jsonl"]}


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def _env_name(action: argparse.Action) -> str:
    longest = max(action.option_strings, key=len)
    return "KSPAN_" + longest.lstrip("-").replace("-", "_").upper()


def _a_value(action: argparse.Action, default: Any) -> str:
    """A valid value for the flag that differs from its default."""
    if isinstance(action, argparse._StoreTrueAction):
        return "true"
    if action.dest == "exporter":  # its default is the command's (console, otlp)
        return "otlp-json"
    if action.choices:
        return next(str(choice) for choice in action.choices if choice != default)
    if action.type is int:
        return "7"
    if action.metavar == DURATION:
        return "7s"
    special = {
        "shard": "1/3",
        "kinds": "Pod",
        "otlp_header": "x-tenant=acme",
        "log_level": "debug",
        "otlp_endpoint": "http://collector:4317",
        "otlp_logs_endpoint": "http://collector:4317",
        "event_types": "Warning",
        "selector": "app=web",
        "reasons": "BackOff",
        "exclude_reasons": "BackOff",
        "exclude_namespaces": "kube-system",
        "metrics_address": "127.0.0.1",
        "cluster_uid": "0b9d3f5e-1111-2222-3333-444455556666",
    }
    return special.get(action.dest, "value-from-env")


def _resolved(command: str) -> str:
    """Everything a command would run with, as text: its arguments and its settings."""
    args = _parser().parse_args([command, *POSITIONALS[command]])
    settings: Any
    if command == "replay":
        settings = replay_settings(args)
    elif command == "run":
        settings = live_settings(args, now_ns=10**18)
    elif command == "explain":
        settings = explain_settings(args)
    else:
        settings = cluster_settings(args)
    return repr((sorted(vars(args).items()), settings))


@pytest.fixture(autouse=True)
def no_kspan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KSPAN_"):
            monkeypatch.delenv(name)


def test_every_flag_of_every_command_has_its_kspan_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README: every flag can be set as a KSPAN_* variable (--window is KSPAN_WINDOW)."""
    ignored: list[str] = []
    top = _parser()
    for command, parser in _commands(top).items():
        for action in [*_flags(top), *_flags(parser)]:
            if action.default == argparse.SUPPRESS:
                continue  # the top-level flag's copy after the command: the top one is checked
            name = _env_name(action)
            plain = _resolved(command)
            default_args = _parser().parse_args([command, *POSITIONALS[command]])
            value = _a_value(action, getattr(default_args, action.dest, None))
            monkeypatch.setenv(name, value)
            if _resolved(command) == plain:
                ignored.append(f"{command} {max(action.option_strings, key=len)}: {name}")
            monkeypatch.delenv(name)
    assert ignored == []


def test_kspan_otlp_header_sets_the_exporter_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSPAN_OTLP_HEADER", "Authorization=Bearer abc, x-tenant=acme")
    settings = replay_settings(_parser().parse_args(["replay"]))
    assert settings.sinks.otlp.headers == (("authorization", "Bearer abc"), ("x-tenant", "acme"))
    # The flag wins over the variable.
    args = _parser().parse_args(["replay", "--otlp-header", "k=v"])
    assert replay_settings(args).sinks.otlp.headers == (("k", "v"),)


@pytest.mark.parametrize(
    "header",
    ["Authorization: Bearer s3cr3t-t0ken", "Bearer s3cr3t-t0ken", "=s3cr3t-t0ken", "a b=s3cr3t"],
)
def test_a_malformed_otlp_header_is_named_without_its_secret(
    header: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--exporter", "otlp", "--otlp-header", header]) == 2
    error = capsys.readouterr().err
    assert "--otlp-header" in error
    assert "s3cr3t" not in error, error
    if header.startswith("Authorization"):
        assert "'Authorization'" in error and "authorization=VALUE" in error


def test_every_duration_flag_names_a_negative_value_itself(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--window -5s` was argparse's "expected one argument"; each duration flag now says what
    is wrong with the value."""
    commands = _commands(_parser())
    checked = []
    for command, parser in commands.items():
        for flag in sorted(_duration_flags(parser)):
            for written in ([flag, "-5s"], [f"{flag}=-5s"]):
                argv = [command, *POSITIONALS[command], *written]
                if command == "run":
                    argv += ["--leader-elect"]  # so that --lease-duration is read too
                assert main(argv) == 2, argv
                error = capsys.readouterr().err
                assert f"{flag}: '-5s' is negative" in error, (argv, error)
                assert "expected one argument" not in error
            checked.append(flag)
    assert {"--window", "--change-gap", "--since", "--shutdown-timeout", "--duration"} <= set(
        checked
    )
    assert {"--lease-duration", "--otlp-timeout"} <= set(checked)


def test_a_duration_that_is_no_number_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("inf", "1e999", "nan", "5 s"):
        assert main(["replay", "--change-gap", value]) == 2
        assert f"--change-gap: '{value}' is not a duration" in capsys.readouterr().err


def test_the_summary_counts_in_english(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_live import CRASHLOOP

    one = tmp_path / "one.jsonl"
    line = next(
        text
        for text in CRASHLOOP.read_text().splitlines()
        if '"kind":"Event"' in text.replace(" ", "")
    )
    one.write_text(line + "\n")
    spans = str(tmp_path / "spans.jsonl")
    assert main(["replay", str(one), "--exporter", "otlp-json", "--otlp-json-file", spans]) == 0
    error = capsys.readouterr().err
    assert "read 1 value: 1 event occurrence, 0 objects, 0 skipped; 1 span in 1 trace" in error


def test_explain_without_any_kubeconfig_gives_one_clear_error(tmp_path: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    environment["HOME"] = str(tmp_path)
    for command in (["explain", "pod/web-1"], ["run"], ["record", str(tmp_path / "c.jsonl")]):
        result = subprocess.run(
            [str(Path(os.sys.executable)), "-m", "kspan_py.cli", *command],
            env=environment,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines == [
            f"kspan-py: no kubeconfig: no {tmp_path}/.kube/config, no $KUBECONFIG, and not in "
            "a Pod; give --kubeconfig PATH"
        ], result.stderr


# -- CI ------------------------------------------------------------------------------------


def _ci_path(tmp_path: Path) -> Path:
    """A PATH with what .ci/run needs before `make`, and no Chromium, apt-get or make."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id", "env"):
        found = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], check=True, capture_output=True
        )
        (bin_dir / tool).symlink_to(found.stdout.decode().strip())
    return bin_dir


def _ci_run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "bash"), str(ROOT / ".ci" / "run")],
        env={"PATH": str(bin_dir), "HOME": str(bin_dir)},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ci_fails_loudly_when_chromium_is_missing_and_cannot_be_installed(tmp_path: Path) -> None:
    result = _ci_run(_ci_path(tmp_path))
    assert result.returncode == 1
    assert "chromium is missing" in result.stderr and "browser tests" in result.stderr
    assert "lint" not in result.stderr  # it stopped before running anything


def test_ci_installs_chromium_with_apt_get_when_it_is_missing(tmp_path: Path) -> None:
    bin_dir = _ci_path(tmp_path)
    calls = tmp_path / "apt-get.calls"
    # apt-get as Debian's would behave here: it "installs" chromium into the PATH.
    (bin_dir / "apt-get").write_text(
        "#!" + str(bin_dir / "bash") + "\n"
        f'echo "$*" >> {calls}\n'
        f'if [ "$1" = install ]; then printf "#!/bin/true\\n" > {bin_dir}/chromium;'
        f" /bin/chmod +x {bin_dir}/chromium; fi\n"
    )
    (bin_dir / "apt-get").chmod(0o755)
    result = _ci_run(bin_dir)
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
    assert "chromium is missing" not in result.stderr
    assert "ci: lint failed" in result.stderr  # it went on to `make lint` (no make here)


def test_the_two_otlp_json_files_must_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each OTLP/JSON sink writes its lines in parts: on one file they would interleave."""
    same = tmp_path / "out.jsonl"
    args = ["replay", "--exporter", "otlp-json", "--exporter", "otlp-logs-json"]
    files = [
        "--otlp-json-file",
        str(same),
        "--otlp-logs-json-file",
        str(tmp_path / "." / same.name),
    ]
    assert main([*args, *files]) == 2
    assert "name the same file" in capsys.readouterr().err
    assert not same.exists()
    files[-1] = str(tmp_path / "logs.jsonl")
    assert main([*args, *files]) == 0
