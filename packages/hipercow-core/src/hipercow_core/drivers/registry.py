"""Finding drivers through the `hipercow.drivers` entry point group.

Installing a package is all it takes to add a driver. The `local` driver is
known without scanning entry points, since it lives here and is the default.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, cast

import msgspec
import msgspec.inspect

from hipercow_core import plugins
from hipercow_core.drivers.protocol import AnyDriver, DriverFactory, OptionsT
from hipercow_core.errors import (
    CorruptFileError,
    DriverError,
    HipercowError,
    HipercowWarning,
    InvalidInputError,
)
from hipercow_core.root import Root
from hipercow_core.schema import DriverEntry, MachineConfig

DEFAULT_DRIVER = "local"


def available_drivers() -> list[str]:
    return sorted(plugins.targets(plugins.DRIVERS))


def load_driver_class(name: str) -> DriverFactory[Any]:
    found = plugins.load(plugins.DRIVERS, name)
    if found is None:
        raise DriverError(
            f"unknown driver '{name}'",
            f"Available drivers: {', '.join(available_drivers())}; "
            "install the package that provides it.",
        )
    return cast(DriverFactory[Any], found)


def parse_options(factory: DriverFactory[OptionsT], options: dict[str, Any]) -> OptionsT:
    """Convert user-given key=value text into the driver's own options record."""
    try:
        return cast(OptionsT, msgspec.convert(options, factory.options_type, strict=False))
    except msgspec.ValidationError as e:
        known = ", ".join(factory.options_type.__struct_fields__)
        unknown = _UNKNOWN_FIELD.search(str(e))
        if unknown is not None:
            raise InvalidInputError(
                f"invalid option for driver '{factory.name}': it has no option '{unknown[1]}'",
                f"Options of '{factory.name}': {known}.",
            ) from None
        field = _FIELD_IN_ERROR.search(str(e))
        if field is None or field[1] not in options:
            raise InvalidInputError(
                f"invalid option for driver '{factory.name}': {e}",
                f"Options of '{factory.name}': {known}.",
            ) from None
        name = field[1]
        wanted = _wanted(factory.options_type, name)
        raise InvalidInputError(
            f"invalid option for driver '{factory.name}': {name}={options[name]} is not {wanted}",
            f"Give {name}={_example(wanted)}, or {name}= for the default"
            f" (options of '{factory.name}': {known}).",
        ) from None


# msgspec names the field it could not convert as "... - at `$.max_cores`".
_FIELD_IN_ERROR = re.compile(r"at `\$\.(\w+)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `(\w+)`")

_KIND_WORDS: dict[type[msgspec.inspect.Type], str] = {
    msgspec.inspect.IntType: "a whole number",
    msgspec.inspect.FloatType: "a number",
    msgspec.inspect.BoolType: "true or false",
    msgspec.inspect.StrType: "text",
    msgspec.inspect.ListType: "a list",
    msgspec.inspect.DictType: "a mapping",
}


def _wanted(options_type: type[Any], name: str) -> str:
    """What an option takes, in words: 'a whole number', 'one of low, normal'."""
    info = msgspec.inspect.type_info(options_type)
    assert isinstance(info, msgspec.inspect.StructType)
    field = next(f for f in info.fields if f.name == name)
    kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
    words = []
    for kind in kinds:
        if isinstance(kind, msgspec.inspect.LiteralType):
            words.append("one of " + ", ".join(str(v) for v in kind.values))
        elif type(kind) in _KIND_WORDS:
            words.append(_KIND_WORDS[type(kind)])
    return " or ".join(words) or "a value of the right kind"


def _example(wanted: str) -> str:
    if wanted.startswith("one of "):
        return wanted.removeprefix("one of ").split(",")[0]
    return {"a whole number": "4", "a number": "1.5", "true or false": "true"}.get(wanted, "...")


def configured_entry(config: MachineConfig, name: str | None) -> DriverEntry:
    """The configured driver to use: the one named, else the default, else `local`."""
    wanted = name if name is not None else config.default
    if wanted is None:
        if len(config.drivers) == 1:
            return config.drivers[0]
        return DriverEntry(DEFAULT_DRIVER)
    for entry in config.drivers:
        if entry.name == wanted:
            return entry
    if wanted == DEFAULT_DRIVER:
        return DriverEntry(DEFAULT_DRIVER)
    configured = ", ".join(e.name for e in config.drivers) or "none"
    raise DriverError(
        f"driver '{wanted}' is not configured on this machine (configured: {configured})",
        f"Run 'hipercow driver configure {wanted}' first.",
    )


_instances: dict[tuple[str, str, bytes], AnyDriver] = {}


def get_driver(root: Root, name: str | None = None) -> AnyDriver:
    """The driver `name` (or the default one) as configured for this machine.

    One instance per root and configuration is kept for the life of the
    process, so a command that polls (`wait`) keeps its driver's state, such
    as a portal session or a cached scheduler answer.
    """
    if name is not None:
        load_driver_class(name)
    entry = configured_entry(root.machine_config(), name)
    key = (str(root.path), entry.name, msgspec.json.encode(entry.options))
    if key not in _instances:
        factory = load_driver_class(entry.name)
        _instances[key] = factory(root, parse_options(factory, entry.options))
    return _instances[key]


def expect_submission(root: Root, name: str | None = None) -> None:
    """Tell the driver `name` (or the default) that a job is about to be submitted to it.

    Best effort, called before a command's own checks: a driver that cannot
    be had now says why when the job is submitted.
    """
    try:
        driver = get_driver(root, name)
    except HipercowError:
        return
    driver.expect_submission()


def configure_driver(root: Root, name: str, options: dict[str, Any]) -> DriverEntry:
    """Validate and save a driver's options for this machine; it becomes the default.

    What the driver can already tell is missing (`configure_warnings`) is
    warned about once the options are saved.

    Options given now are merged over those saved before, so options can be
    changed one at a time; an empty value (`key=`) returns one to its default.
    """
    factory = load_driver_class(name)
    try:
        config = root.machine_config()
    except CorruptFileError:
        config = MachineConfig()  # configuring is how a broken file is replaced
    earlier = next((e.options for e in config.drivers if e.name == name), {})
    merged = {k: v for k, v in {**earlier, **options}.items() if v != ""}
    parsed = parse_options(factory, merged)
    # A driver's options may say what this machine cannot honour (it warns, never refuses).
    check = getattr(parsed, "check_machine", None)
    if callable(check):
        check()
    entry = DriverEntry(name, msgspec.to_builtins(parsed))
    drivers = [e for e in config.drivers if e.name != name]
    config.drivers = [*drivers, entry]
    config.default = name
    root.save_machine_config(config)
    for problem in factory(root, parsed).configure_warnings():
        warnings.warn(HipercowWarning(problem), stacklevel=2)
    return entry


def unconfigure_driver(root: Root, name: str) -> bool:
    config = root.machine_config()
    remaining = [e for e in config.drivers if e.name != name]
    if len(remaining) == len(config.drivers):
        return False
    config.drivers = remaining
    if config.default == name:
        config.default = remaining[-1].name if remaining else None
    root.save_machine_config(config)
    return True
