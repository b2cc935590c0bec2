"""Bundles: named lists of tasks made together, with readable default names.

A bundle is one small file (`hipercow/bundles/NAME.json`) listing task ids;
the tasks themselves do not depend on it, so deleting a bundle never deletes
a task. Statuses are read with the same batched path as single tasks, so a
10,000-task bundle costs one directory listing per task plus one scheduler
query for the active ones.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from hipercow_core.errors import CorruptFileError, InvalidInputError
from hipercow_core.fsutil import atomic_write, decode, no_links, read_bytes, write_once, writing
from hipercow_core.names import case_twin, refuse_case_twin, refuse_windows_reserved
from hipercow_core.root import Root
from hipercow_core.schema import Bundle, DataValue, TaskStatus

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

# Worst first: a bundle is as bad as its worst task.
WORST_ORDER = (
    TaskStatus.UNREADABLE,
    TaskStatus.MISSING,
    TaskStatus.FAILURE,
    TaskStatus.CANCELLED,
    TaskStatus.CREATED,
    TaskStatus.SUBMITTED,
    TaskStatus.RUNNING,
    TaskStatus.SUCCESS,
)

_ADJECTIVES = (
    "agile",
    "bold",
    "brave",
    "bright",
    "calm",
    "cheerful",
    "clever",
    "cosy",
    "curious",
    "daring",
    "eager",
    "fancy",
    "gentle",
    "giddy",
    "happy",
    "hardy",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucky",
    "merry",
    "mighty",
    "nimble",
    "noble",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "shiny",
    "snappy",
    "spry",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "trusty",
    "vivid",
    "witty",
)
_ANIMALS = (
    "aardvark",
    "badger",
    "bison",
    "cheetah",
    "dingo",
    "dolphin",
    "eagle",
    "ferret",
    "gazelle",
    "gecko",
    "heron",
    "ibex",
    "jackal",
    "koala",
    "lemur",
    "lynx",
    "marmot",
    "meerkat",
    "narwhal",
    "ocelot",
    "otter",
    "panda",
    "puffin",
    "quokka",
    "raccoon",
    "salamander",
    "seal",
    "tapir",
    "toucan",
    "urchin",
    "vole",
    "walrus",
    "wildcat",
    "wombat",
    "yak",
    "zebra",
)


_decoder = msgspec.json.Decoder(Bundle)


def bundles_dir(root: Root) -> Path:
    return root.path / "bundles"


def _repair_hint(name: str) -> str:
    return f"Remove it with 'hipercow bundle delete {name}' (its tasks are kept)."


def bundle_path(root: Root, name: str) -> Path:
    validate_name(name)
    return bundles_dir(root) / f"{name}.json"


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"'{name}' is not a bundle name",
            "Use letters, digits, '_', '-' and '.', starting with a letter or digit.",
        )
    refuse_windows_reserved("a bundle", name)
    return name


def random_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_ANIMALS)}"


def save_bundle(
    root: Root,
    task_ids: Sequence[str],
    name: str | None = None,
    command: Sequence[str] = (),
    data: Sequence[Mapping[str, DataValue]] = (),
) -> Bundle:
    """Write a new bundle; a given name must be free, a default one is picked to be."""
    if name is not None:
        validate_name(name)
    directory = bundles_dir(root)
    no_links(root.path, directory)
    with writing(directory):
        directory.mkdir(exist_ok=True)
    for attempt in range(100):
        chosen = (
            name
            if name is not None
            else (random_name() if attempt < 50 else f"{random_name()}_{secrets.token_hex(2)}")
        )
        twin = case_twin(directory, f"{chosen}.json")
        if name is not None:
            refuse_case_twin(
                "a bundle", name, twin and twin.removesuffix(".json"), "Choose another --name."
            )
        bundle = Bundle(
            chosen,
            datetime.now(UTC),
            tuple(task_ids),
            tuple(command),
            data=tuple(dict(row) for row in data),
        )
        if twin is None and write_once(bundle_path(root, chosen), msgspec.json.encode(bundle)):
            return bundle
        if name is not None:
            raise InvalidInputError(
                f"a bundle called '{name}' already exists",
                "Choose another --name, or delete the old bundle first.",
            )
    raise InvalidInputError("could not find a free bundle name", "Give one with --name.")


def choose_name(root: Root, name: str | None = None) -> str:
    """A free bundle name: the one given (refused if taken), else a readable random one."""
    if name is not None:
        if bundle_path(root, name).exists():
            raise InvalidInputError(
                f"a bundle called '{name}' already exists",
                "Choose another --name, or delete the old bundle first.",
            )
        return name
    for attempt in range(100):
        chosen = random_name() if attempt < 50 else f"{random_name()}_{secrets.token_hex(2)}"
        if not bundle_path(root, chosen).exists():
            return chosen
    raise InvalidInputError("could not find a free bundle name", "Give one with --name.")


def replace_bundle(root: Root, bundle: Bundle) -> None:
    path = bundle_path(root, bundle.name)
    no_links(root.path, path)
    atomic_write(path, msgspec.json.encode(bundle))


def load_bundle(root: Root, name: str) -> Bundle:
    path = bundle_path(root, name)
    raw = read_bytes(path)
    if raw is None:
        raise InvalidInputError(
            f"no bundle called '{name}'", "'hipercow bundle list' shows the bundles of this root."
        )
    return decode(path, raw, _decoder, _repair_hint(name))


def bundle_exists(root: Root, name: str) -> bool:
    return _NAME.fullmatch(name) is not None and bundle_path(root, name).is_file()


def scan_bundles(root: Root) -> tuple[list[Bundle], dict[str, str]]:
    """Every readable bundle, newest first, and the unreadable ones: {name: what is wrong}."""
    try:
        paths = list(bundles_dir(root).glob("*.json"))
    except FileNotFoundError:
        return [], {}
    found = []
    broken: dict[str, str] = {}
    for path in paths:
        raw = read_bytes(path)
        if raw is None:
            continue
        try:
            bundle = decode(path, raw, _decoder, _repair_hint(path.stem))
        except CorruptFileError as e:
            broken[path.stem] = e.message
            continue
        found.append(bundle)
    return sorted(found, key=lambda b: b.created, reverse=True), broken


def list_bundles(root: Root) -> list[Bundle]:
    """Every readable bundle, newest first."""
    return scan_bundles(root)[0]


def data_of(bundle: Bundle) -> dict[str, dict[str, DataValue]]:
    """Each task's data values by task id (empty for bundles made before they were kept)."""
    return dict(zip(bundle.task_ids, bundle.data, strict=False))


def without(bundle: Bundle, gone: set[str]) -> Bundle:
    """The bundle with some tasks removed, their data values with them."""
    kept = [i for i, t in enumerate(bundle.task_ids) if t not in gone]
    return msgspec.structs.replace(
        bundle,
        task_ids=tuple(bundle.task_ids[i] for i in kept),
        data=tuple(bundle.data[i] for i in kept if i < len(bundle.data)),
    )


def delete_bundle(root: Root, name: str) -> None:
    """Forget a bundle, even one whose file is unreadable; its tasks are kept."""
    path = bundle_path(root, name)
    no_links(root.path, path)
    if not path.is_file():
        load_bundle(root, name)  # raises: no such bundle
    with writing(path):
        path.unlink(missing_ok=True)


def counts(statuses: Iterable[TaskStatus]) -> dict[TaskStatus, int]:
    """How many tasks have each status, in the order statuses happen."""
    tally = Counter(statuses)
    order = [s for s in TaskStatus if s in tally]
    return {s: tally[s] for s in order}


def worst(statuses: Iterable[TaskStatus]) -> TaskStatus:
    present = set(statuses)
    return next((s for s in WORST_ORDER if s in present), TaskStatus.SUCCESS)
