"""Credentials: where keys are read from, and that no secret reaches a log line or an error."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.data.download_venues import VENUES
from heron.errors import InputError, InvalidConfiguration
from heron.venues.credentials import (
    LIVE_VENUES,
    RedactSecrets,
    SecretRegistry,
    install_redaction,
    load_credentials,
    scrub,
)

KEY, SECRET, PASSPHRASE = "k3y-AbCdEf012345", "s3cr/t+Value=987654", "pass-phrase-42"


def _key_file(tmp_path: Path, text: str, name: str = "keys.toml", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_load_credentials_environment_reads_heron_variables() -> None:
    env = {"HERON_OKX_API_KEY": KEY, "HERON_OKX_API_SECRET": SECRET,
           "HERON_OKX_PASSPHRASE": PASSPHRASE}
    creds = load_credentials("okx", key_file=None, environ=env)
    assert (creds.api_key, creds.api_secret, creds.passphrase) == (KEY, SECRET, PASSPHRASE)
    assert creds.ccxt_config() == {"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE}
    assert "HERON_OKX_PASSPHRASE" in creds.source


def test_load_credentials_alpaca_falls_back_to_its_own_variables() -> None:
    env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
    creds = load_credentials("alpaca", key_file=None, environ=env)
    assert (creds.api_key, creds.api_secret) == (KEY, SECRET)
    preferred = load_credentials("alpaca", key_file=None,
                                 environ={**env, "HERON_ALPACA_API_KEY": "heron-key-1"})
    assert preferred.api_key == "heron-key-1"


def test_load_credentials_missing_part_names_the_variable() -> None:
    with pytest.raises(InputError, match="set HERON_OKX_PASSPHRASE or pass --key-file"):
        load_credentials("okx", key_file=None,
                         environ={"HERON_OKX_API_KEY": KEY, "HERON_OKX_API_SECRET": SECRET})
    with pytest.raises(InvalidConfiguration, match="unknown venue 'ftx'"):
        load_credentials("ftx", key_file=None, environ={})


def test_live_venues_match_the_download_venues() -> None:
    assert set(LIVE_VENUES) == set(VENUES)


def test_load_credentials_toml_file_venue_table(tmp_path: Path) -> None:
    path = _key_file(tmp_path, f'[hyperliquid]\nwallet = "0xabc"\nprivate_key = "{SECRET}"\n'
                               f'[okx]\napi_key = "x"\n')
    creds = load_credentials("hyperliquid", key_file=path, environ={})
    assert (creds.wallet, creds.private_key) == ("0xabc", SECRET)
    assert creds.source == f"key file {path}"


def test_load_credentials_json_file_wins_over_environment_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _key_file(tmp_path, json.dumps({"api_key": KEY, "api_secret": SECRET}), "k.json")
    env = {"HERON_BYBIT_API_KEY": "env-key-123", "HERON_BYBIT_API_SECRET": "env-secret-123"}
    with caplog.at_level(logging.WARNING, logger="heron.venues.credentials"):
        creds = load_credentials("bybit", key_file=path, environ=env)
    assert (creds.api_key, creds.api_secret) == (KEY, SECRET)
    assert "key file" in caplog.text and "wins" in caplog.text
    assert "HERON_BYBIT_API_KEY" in caplog.text and "env-secret-123" not in caplog.text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o610])
def test_load_credentials_group_or_other_bits_refused_with_chmod(tmp_path: Path,
                                                                 mode: int) -> None:
    path = _key_file(tmp_path, f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n', mode=mode)
    fix = re.escape(f"mode {mode:04o}); run chmod 600 {path}")
    with pytest.raises(InputError, match=fix) as caught:
        load_credentials("binanceusdm", key_file=path, environ={})
    assert SECRET not in str(caught.value)
    path.chmod(0o400)  # stricter than 0600 is fine
    assert load_credentials("binanceusdm", key_file=path, environ={}).api_secret == SECRET


def test_load_credentials_symlink_and_bad_file_refused(tmp_path: Path) -> None:
    target = _key_file(tmp_path, f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    with pytest.raises(InputError, match="not a symlink"):
        load_credentials("binanceusdm", key_file=link, environ={})
    broken = _key_file(tmp_path, f'api_secret = {SECRET}\n', "broken.toml")
    with pytest.raises(InputError, match="is not valid TOML") as caught:
        load_credentials("binanceusdm", key_file=broken, environ={})
    assert SECRET not in str(caught.value)
    with pytest.raises(InputError, match="unknown keys secret"):
        load_credentials("mexc", key_file=_key_file(tmp_path, 'secret = "x"\n', "u.toml"),
                         environ={})


def test_credentials_repr_and_str_hide_secrets() -> None:
    creds = load_credentials("okx", key_file=None, environ={
        "HERON_OKX_API_KEY": KEY, "HERON_OKX_API_SECRET": SECRET,
        "HERON_OKX_PASSPHRASE": PASSPHRASE})
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert KEY not in text and SECRET not in text and PASSPHRASE not in text
        assert "api_secret=***" in text and "venue='okx'" in text


def test_redact_secrets_masks_message_args_url_and_signature() -> None:
    registry = SecretRegistry()
    registry.add(SECRET)
    registry.add(KEY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(registry))
    logger = logging.getLogger("heron.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("secret %s in args, key in text " + KEY, SECRET)
        logger.warning("GET https://x/fapi/v1/order?symbol=BTCUSDT&timestamp=1&"
                       "signature=9f86d081884c7d65&secret=%s", "s3cr%2Ft%2BValue%3D987654")
        try:
            raise ValueError(f"reply quoted {SECRET}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert SECRET not in out and KEY not in out and "987654" not in out
    assert "9f86d081884c7d65" not in out and "signature=***" in out
    assert "secret *** in args, key in text ***" in out
    assert "ValueError: reply quoted ***" in out


@pytest.fixture
def record_factory() -> Iterator[None]:
    """install_redaction changes the process's record factory: put the original back."""
    from heron.venues import credentials

    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)
    credentials._installed.clear()


@pytest.mark.usefixtures("record_factory")
def test_install_redaction_masks_environment_secret_through_root_handler() -> None:
    secret = "env-only-secret-55555"
    install_redaction({"HERON_MEXC_API_SECRET": secret, "HOME": "/home/someone"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)  # added after install: still redacted
    try:
        logging.getLogger("heron.some.child").error("sent %s", secret)
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "sent ***\n"
    assert scrub(f"x{secret}y /home/someone") == "x***y /home/someone"


def test_cli_error_with_secret_in_endpoint_is_scrubbed() -> None:
    secret = "cli-secret-Zq81xw"
    env = {**os.environ, "HERON_BINANCEUSDM_API_SECRET": secret}
    env.pop("HERON_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-m", "heron", "feed", "--venue", "binanceusdm", "--symbol",
         "BTCUSDT", "--endpoint", f"ftp://{secret}"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 2
    assert "--endpoint 'ftp://***' is not an http(s) URL" in result.stderr
    assert secret not in result.stderr + result.stdout
