"""Finding drivers through the `hipercow.drivers` entry point group.

Installing a package is all it takes to add a driver. The `local` driver is
known without scanning entry points, since it lives here and is the default.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec

from hipercow_core import plugins
from hipercow_core.drivers.protocol import AnyDriver, DriverFactory, OptionsT
from hipercow_core.errors import CorruptFileError, DriverError, InvalidInputError
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
        raise InvalidInputError(
            f"invalid option for driver '{factory.name}': {e}",
            f"Options of '{factory.name}': {known}.",
        ) from None


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


def configure_driver(root: Root, name: str, options: dict[str, Any]) -> DriverEntry:
    """Validate and save a driver's options for this machine; it becomes the default.

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
    entry = DriverEntry(name, msgspec.to_builtins(parsed))
    drivers = [e for e in config.drivers if e.name != name]
    config.drivers = [*drivers, entry]
    config.default = name
    root.save_machine_config(config)
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
