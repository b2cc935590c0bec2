"""The driver's options as typed after `hipercow driver configure windows-hpc`."""

from __future__ import annotations

import pytest

from hipercow_core.drivers.registry import load_driver_class, parse_options
from hipercow_core.errors import InvalidInputError
from hipercow_windows_hpc.driver import WindowsHpcDriver
from hipercow_windows_hpc.options import WindowsHpcOptions


def parse(**text: str) -> WindowsHpcOptions:
    options = parse_options(load_driver_class("windows-hpc"), dict(text))
    assert isinstance(options, WindowsHpcOptions)
    return options


def test_the_driver_is_found_by_its_entry_point() -> None:
    assert load_driver_class("windows-hpc") is WindowsHpcDriver


def test_options_from_text() -> None:
    options = parse(
        platform="linux",
        portal_url="http://127.0.0.1:8642/hpc",
        python_version="3.12",
        linux_runner="/opt/py{python_version}/bin/hipercow-task-run",
        detect_shares="false",
        timeout="2.5",
        retries="0",
        shares="/p=//wpia-hn/hipercow:V",
    )
    assert options.portal_url == "http://127.0.0.1:8642/hpc/"
    assert options.detect_shares is False
    assert options.timeout == 2.5 and options.retries == 0
    assert options.runner() == "/opt/py3.12/bin/hipercow-task-run"
    assert [m.drive for m in options.explicit_shares()] == ["V:"]
    assert options.linux_rules()[0].linux == "/mnt/homes"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("platform", "mac", "platform"),
        ("portal_url", "mrcdata/hpc", "portal_url"),
        ("python_version", "three", "python_version"),
        ("shares", "/a=//x/y:V,/b=//x/z:V", "drive V:"),
        ("linux_mounts", "//x/y=relative", "absolute"),
        ("timeout", "0", "timeout"),
        ("colour", "red", "colour"),
    ],
)
def test_bad_options_are_refused_at_configure(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse(**{key: value})
