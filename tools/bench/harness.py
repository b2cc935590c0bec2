"""The benchmark machinery: two tools, timed runs through `sh`, medians, goals, a report.

It is kept apart from the case registry (`cases.py`) so that adding a case
means writing two small setup functions and one `Case(...)` entry, never
touching the timing loop. Every number a goal is judged on comes from this one
loop, which alternates the two tools (and which of them goes first), so that a
noisy neighbour on a shared 2-core machine slows both rather than one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sh

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".bench"
RESULTS = BENCH_DIR / "results.json"
OLD_VERSION = "0.2.4"
GNU_TIME = Path("/usr/bin/time")
OLD_API = Path(__file__).resolve().parent / "old_api.py"

Metric = Literal["wall", "cpu", "rss"]
ToolKey = Literal["ours", "theirs"]

# Every exit code is accepted by `sh` so that the harness, not `sh`, decides
# what a bad exit means and can show the command's stderr when it happens.
_ANY_EXIT = list(range(256))
# Variables that would make the two tools see different worlds, or make one of
# them find the wrong root or interpreter.
_SCRUBBED_ENV = ("HIPERCOW_ROOT", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH")


class BenchError(Exception):
    """A setup or a run went wrong: the case cannot be judged, which is not a FAIL."""


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the final table."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Sample:
    """One timed run of one command."""

    wall: float
    """Seconds from starting the command to its exit, as the harness saw them."""
    cpu: float
    """User + system seconds of the command and every descendant it waited for."""
    rss_kib: int | None
    """Peak resident memory of the command's process, KiB (None if not measurable)."""
    exit_code: int
    stdout: Path
    stderr: Path

    def value(self, metric: Metric) -> float:
        """The number a goal on `metric` is judged by."""
        if metric == "wall":
            return self.wall
        if metric == "cpu":
            return self.cpu
        if self.rss_kib is None:
            raise BenchError("peak memory is not measurable here (no GNU time at /usr/bin/time)")
        return float(self.rss_kib)

    def output(self) -> str:
        return self.stdout.read_text(errors="replace")

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall, 6),
            "cpu_s": round(self.cpu, 6),
            "rss_kib": self.rss_kib,
            "exit_code": self.exit_code,
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def child_env(pycache: Path) -> dict[str, str]:
    """The environment both tools run in: the caller's, minus what would skew them.

    This sandbox sets PYTHONDONTWRITEBYTECODE and installs without bytecode,
    so every start would recompile every module, which no user's pip install
    does. Byte code is cached under `.bench/pycache` instead (one prefix for
    both tools, so neither the shared `.venv` nor `packages/` gets written to),
    and the warm-up run fills it.
    """
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        for child in process.children(recursive=True):
            child.kill()
        process.kill()
    except psutil.NoSuchProcess:
        pass


def _run(command: Any, args: Sequence[str], timeout: float, **options: Any) -> Any:
    """Run an `sh` command to its end, killing it (and what it started) after `timeout` s.

    `sh`'s own `_timeout` polls, which added about 100 ms to every run; a
    timer that only fires on a hung command costs nothing.
    """
    running = command(
        *args, _bg=True, _bg_exc=False, _ok_code=_ANY_EXIT, _return_cmd=True, **options
    )
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill_tree(int(running.pid))

    timer = threading.Timer(timeout, expire)
    timer.start()
    shown = f"'{command} {' '.join(args)}'"
    try:
        running.wait()
    except sh.ErrorReturnCode as e:  # a signal: every exit code is "ok" to `sh`
        if timed_out.is_set():
            raise BenchError(f"{shown} took over {timeout:g}s and was killed") from None
        raise BenchError(f"{shown} was killed: {type(e).__name__}") from None
    finally:
        timer.cancel()
    return running


class Runner:
    """Runs external commands through `sh`, with wall time, CPU time and peak memory.

    Peak memory comes from GNU time's `%M` (the max RSS of the command's own
    process, which is what wait4 reports for it); `getrusage(RUSAGE_CHILDREN)`
    cannot give it per command, because its `ru_maxrss` is a running maximum
    over every child so far. CPU time, a sum, does come from its deltas.
    """

    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        self.env = env
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self.gnu_time = GNU_TIME.is_file() and os.access(GNU_TIME, os.X_OK)

    def measure(self, argv: Sequence[str], cwd: Path, *, tag: str, timeout: float) -> Sample:
        """Run `argv` once in `cwd`, output to files named by `tag`, and measure it."""
        out_path = self.scratch / f"{tag}.out"
        err_path = self.scratch / f"{tag}.err"
        rss_path = self.scratch / f"{tag}.rss"
        rss_path.unlink(missing_ok=True)
        if self.gnu_time:
            command = sh.Command(str(GNU_TIME))
            args: list[str] = ["-f", "%M", "-o", str(rss_path), *argv]
        else:
            command = sh.Command(argv[0])
            args = list(argv[1:])
        with (
            open(os.devnull, "rb") as stdin,
            out_path.open("wb") as out,
            err_path.open("wb") as err,
        ):
            cpu_before = _children_cpu()
            start = time.perf_counter()
            done = _run(
                command,
                args,
                timeout,
                _cwd=str(cwd),
                _env=self.env,
                _in=stdin,
                _out=out,
                _err=err,
            )
            wall = time.perf_counter() - start
            cpu = _children_cpu() - cpu_before
        return Sample(
            wall=wall,
            cpu=cpu,
            rss_kib=self._rss(rss_path),
            exit_code=int(done.exit_code),
            stdout=out_path,
            stderr=err_path,
        )

    def _rss(self, rss_path: Path) -> int | None:
        if not self.gnu_time:
            # Without GNU time only the running maximum over all children is
            # known: an upper bound, exact when this child is the largest yet.
            return _children_maxrss()
        try:
            # GNU time writes "Command exited with non-zero status N" first
            # when the command fails, so the figure is on the last line.
            return int(rss_path.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            return None

    def call(self, argv: Sequence[str], cwd: Path, *, timeout: float = 600) -> str:
        """Run a helper command (untimed) and return its stdout; any failure is a BenchError."""
        try:
            command = sh.Command(argv[0])
        except sh.CommandNotFound:
            raise BenchError(f"command not found: {argv[0]}") from None
        done = _run(command, argv[1:], timeout, _cwd=str(cwd), _env=self.env, _tty_out=False)
        stdout = bytes(done.stdout).decode(errors="replace")
        if int(done.exit_code) != 0:
            stderr = bytes(done.stderr).decode(errors="replace")
            raise BenchError(
                f"'{' '.join(argv)}' in {cwd} exited {done.exit_code}:\n{stderr or stdout}"
            )
        return stdout

    def overhead(self, count: int = 10) -> float:
        """Median wall time of `/bin/true` through `measure`: the harness's own cost per run.

        It is included in every time reported (and is the same for both
        tools), so it pushes ratios slightly towards 1; it is shown so that a
        reader can tell how much.
        """
        true = shutil.which("true") or "/bin/true"
        times = [
            self.measure([true], self.scratch, tag="overhead", timeout=30).wall
            for _ in range(count)
        ]
        return statistics.median(times)


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tool:
    """One of the two `hipercow` programs under comparison, and where its files go."""

    key: ToolKey
    title: str
    version: str
    bin_dir: Path
    home: Path
    """This tool's scratch directory under .bench: its roots and run outputs."""
    driver: str
    """The driver its roots are configured with: `local` for ours, `example` for theirs."""
    reuse_roots: bool
    """Whether prepared roots may be kept between runs (only for a pinned release)."""
    runner: Runner
    program: tuple[str, ...] = ()
    """For a baseline that is not a `hipercow` (e.g. a bare script): the command to run."""

    @property
    def exe(self) -> Path:
        return self.bin_dir / "hipercow"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"

    def cli(self, *argv: str, cwd: Path) -> str:
        """Run this tool's `hipercow` untimed (for setup), returning its stdout."""
        return self.runner.call([str(self.exe), *argv], cwd)

    def measure(self, argv: Sequence[str], cwd: Path, *, tag: str, timeout: float) -> Sample:
        command = list(self.program) or [str(self.exe)]
        return self.runner.measure([*command, *argv], cwd, tag=tag, timeout=timeout)


def ours_tool(runner: Runner) -> Tool:
    """This workspace's `hipercow`, exactly as `uv sync` installed it in `.venv`."""
    bin_dir = REPO / ".venv" / "bin"
    if not (bin_dir / "hipercow").is_file():
        raise BenchError(f"{bin_dir / 'hipercow'} is missing: run 'uv sync' in {REPO}")
    home = BENCH_DIR / "ours"
    version = runner.call([str(bin_dir / "hipercow"), "--version"], REPO).split()[-1]
    return Tool("ours", "hipercow (this repo)", version, bin_dir, home, "local", False, runner)


def theirs_tool(runner: Runner, *, fresh: bool = False) -> Tool:
    """The earlier tool from PyPI, in a throwaway venv under .bench (made once, then reused).

    The venv is built from the same interpreter as ours, so that the Python
    version is not part of the difference. A marker written after a complete
    install tells a finished venv from an interrupted one.
    """
    home = BENCH_DIR / f"theirs-{OLD_VERSION}"
    venv = home / "venv"
    marker = venv / ".bench-installed"
    if fresh and home.exists():
        shutil.rmtree(home)
    if not marker.is_file():
        if venv.exists():
            shutil.rmtree(venv)
        home.mkdir(parents=True, exist_ok=True)
        uv = os.environ.get("UV") or shutil.which("uv")
        if uv is None:
            raise BenchError("uv is needed to install the earlier hipercow, and is not on PATH")
        log(f"installing hipercow=={OLD_VERSION} into {venv}")
        runner.call([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], home)
        runner.call(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                f"hipercow=={OLD_VERSION}",
            ],
            home,
        )
        marker.write_text(f"hipercow=={OLD_VERSION}\n")
    bin_dir = venv / "bin"
    version = runner.call([str(bin_dir / "hipercow"), "--version"], home).split()[-1]
    if version != OLD_VERSION:
        raise BenchError(f"{bin_dir / 'hipercow'} is version {version}, not {OLD_VERSION}")
    return Tool(
        "theirs", f"hipercow=={OLD_VERSION} (PyPI)", version, bin_dir, home, "example", True, runner
    )


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Prepared:
    """What one tool's setup leaves ready for the timed runs of a case."""

    cwd: Path
    argv: tuple[str, ...]
    """Arguments after `hipercow`, run as-is for every repetition."""
    after: Callable[[Sample], None] | None = None
    """Untimed, after every run (warm-up too): e.g. wait for background work to end,
    so that it neither slows the other tool's next run nor changes this one's."""
    check: Callable[[str], str | None] | None = None
    """Given the warm-up run's stdout, a complaint if the run did not do the work."""
    ok_codes: tuple[int, ...] = (0,)
    timeout: float = 600.0


Setup = Callable[[Tool], Prepared]


@dataclass(frozen=True)
class Case:
    """One comparison: the same operation done by both tools, and the goal for it."""

    name: str
    summary: str
    goal: float
    """The most `ours / theirs` (ratio of medians of `metric`) may be."""
    ours: Setup
    theirs: Setup
    repeat: int = 10
    quick_repeat: int = 3
    metric: Metric = "wall"
    baseline: Callable[[Runner], Tool] | None = None
    """The other side when it is not the earlier hipercow (e.g. a bare py-rattler script)."""
    around: Callable[[], AbstractContextManager[None]] | None = None
    """Held for the whole case, setups included: e.g. the Slurm cluster, alone and
    configured for it."""
    opt_in: bool = False
    """Run only when named with --case (it needs what a plain run may not have: Slurm)."""


# --------------------------------------------------------------------------- results


@dataclass
class SideResult:
    tool: Tool
    prepared: Prepared
    samples: list[Sample] = field(default_factory=list)

    def median(self, metric: Metric) -> float:
        return statistics.median(s.value(metric) for s in self.samples)

    def peak_rss_kib(self) -> int | None:
        values = [s.rss_kib for s in self.samples if s.rss_kib is not None]
        return max(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.tool.version,
            "title": self.tool.title,
            "argv": [*(self.tool.program or ("hipercow",)), *self.prepared.argv],
            "cwd": str(self.prepared.cwd),
            "median_wall_s": round(self.median("wall"), 6),
            "median_cpu_s": round(self.median("cpu"), 6),
            "min_wall_s": round(min(s.wall for s in self.samples), 6),
            "peak_rss_kib": self.peak_rss_kib(),
            "samples": [s.to_json() for s in self.samples],
        }


@dataclass
class CaseResult:
    case: Case
    repeat: int
    ours: SideResult | None = None
    theirs: SideResult | None = None
    error: str | None = None

    def ratio(self, metric: Metric) -> float | None:
        if self.ours is None or self.theirs is None or not self.ours.samples:
            return None
        theirs = self.theirs.median(metric)
        return self.ours.median(metric) / theirs if theirs > 0 else None

    def paired_ratio(self, metric: Metric) -> float | None:
        """Median of each round's ours/theirs: steadier than the ratio of medians when the
        machine's load comes in bursts, since a round's two runs are seconds apart."""
        if self.ours is None or self.theirs is None or not self.ours.samples:
            return None
        pairs = zip(self.ours.samples, self.theirs.samples, strict=False)
        ratios = [o.value(metric) / t.value(metric) for o, t in pairs if t.value(metric) > 0]
        return statistics.median(ratios) if ratios else None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        ratio = self.ratio(self.case.metric)
        return "PASS" if ratio is not None and ratio <= self.case.goal else "FAIL"

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio(self.case.metric)
        cpu_ratio = self.ratio("cpu")
        paired = self.paired_ratio(self.case.metric)
        return {
            "name": self.case.name,
            "summary": self.case.summary,
            "metric": self.case.metric,
            "goal": self.case.goal,
            "repeat": self.repeat,
            "ratio": None if ratio is None else round(ratio, 4),
            "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 4),
            "paired_ratio": None if paired is None else round(paired, 4),
            "verdict": self.verdict,
            "error": self.error,
            "ours": self.ours.to_json() if self.ours and self.ours.samples else None,
            "theirs": self.theirs.to_json() if self.theirs and self.theirs.samples else None,
        }


# --------------------------------------------------------------------------- the loop


def _run_once(side: SideResult, tag: str) -> Sample:
    prepared = side.prepared
    sample = side.tool.measure(prepared.argv, prepared.cwd, tag=tag, timeout=prepared.timeout)
    if sample.exit_code not in prepared.ok_codes:
        stderr = sample.stderr.read_text(errors="replace").strip()
        raise BenchError(
            f"{side.tool.key}: 'hipercow {' '.join(prepared.argv)}' exited {sample.exit_code}"
            + (f":\n{stderr[-2000:]}" if stderr else "")
        )
    if prepared.after is not None:
        prepared.after(sample)
    return sample


def run_case(case: Case, ours: Tool, theirs: Tool, repeat: int) -> CaseResult:
    """Set up both sides, warm each up once, then alternate timed runs `repeat` times each.

    Which tool goes first alternates too, so neither always runs straight
    after the other's background work or in the same slot of a periodic
    disturbance.
    """
    result = CaseResult(case, repeat)
    try:
        with case.around() if case.around is not None else contextlib.nullcontext():
            _run_sides(result, ours, theirs)
    except BenchError as e:
        result.error = str(e)
        log(f"[{case.name}] ERROR: {e}")
    return result


def _run_sides(result: CaseResult, ours: Tool, theirs: Tool) -> None:
    case, repeat = result.case, result.repeat
    log(f"[{case.name}] setting up ours")
    result.ours = SideResult(ours, case.ours(ours))
    if case.baseline is not None:
        theirs = case.baseline(ours.runner)
    log(f"[{case.name}] setting up {theirs.title}")
    result.theirs = SideResult(theirs, case.theirs(theirs))
    sides = (result.ours, result.theirs)
    for side in sides:
        warm = _run_once(side, f"{case.name}-{side.tool.key}-warmup")
        check = side.prepared.check
        complaint = check(warm.output()) if check is not None else None
        if complaint is not None:
            raise BenchError(f"{side.tool.key}: warm-up output is wrong: {complaint}")
    for i in range(repeat):
        order = sides if i % 2 == 0 else sides[::-1]
        for side in order:
            side.samples.append(_run_once(side, f"{case.name}-{side.tool.key}"))
        log(
            f"[{case.name}] {i + 1}/{repeat}  "
            f"ours {result.ours.samples[-1].wall:.3f}s  "
            f"theirs {result.theirs.samples[-1].wall:.3f}s"
        )


# --------------------------------------------------------------------------- report


def _show(metric: Metric, value: float) -> str:
    return f"{value / 1024:.1f} MiB" if metric == "rss" else f"{value:.3f} s"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def table(results: Sequence[CaseResult]) -> str:
    """The final table: one line per case, the goal's metric first, then CPU and memory."""
    header = (
        "case",
        "metric",
        "ours",
        "theirs",
        "ratio",
        "goal",
        "result",
        "cpu ratio",
        "peak RSS MiB ours/theirs",
    )
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        metric = r.case.metric
        if r.ours is None or r.theirs is None or not r.ours.samples or not r.theirs.samples:
            rows.append((r.case.name, metric, "-", "-", "-", f"<= {r.case.goal:g}", "ERROR"))
            continue
        ratio = r.ratio(metric)
        cpu_ratio = r.ratio("cpu")
        rows.append(
            (
                r.case.name,
                metric,
                _show(metric, r.ours.median(metric)),
                _show(metric, r.theirs.median(metric)),
                "-" if ratio is None else f"{ratio:.2f}",
                f"<= {r.case.goal:g}",
                r.verdict,
                "-" if cpu_ratio is None else f"{cpu_ratio:.2f}",
                f"{_mib(r.ours.peak_rss_kib())} / {_mib(r.theirs.peak_rss_kib())}",
            )
        )
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _git_commit() -> str | None:
    """The commit benchmarked (read-only: `rev-parse` changes nothing)."""
    try:
        return str(sh.git("rev-parse", "HEAD", _cwd=str(REPO), _tty_out=False)).strip()
    except (sh.ErrorReturnCode, sh.CommandNotFound):
        return None


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None, cases: Sequence[Case]) -> argparse.Namespace:
    names = [c.name for c in cases]
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=(
            f"Time this repo's hipercow against hipercow=={OLD_VERSION} and check the goals "
            "(ours / theirs, ratio of medians)."
        ),
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"only this case (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="timed runs per tool per case (overrides each case's own)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="each case's smaller repetition count, for a fast look"
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--fresh", action="store_true", help="reinstall the earlier tool and rebuild its kept roots"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help=f"JSON results file (default: {RESULTS.relative_to(REPO)})",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(cases: Sequence[Case], argv: Sequence[str] | None = None) -> int:
    """Run the selected cases; exit 0 if every goal passes, 1 if one fails, 2 on errors."""
    args = parse_args(argv, cases)
    if args.list:
        for c in cases:
            print(
                f"{c.name:<14} goal <= {c.goal:g} x ({c.metric}), "
                f"{c.repeat} runs ({c.quick_repeat} quick): {c.summary}"
            )
        return 0
    selected = [c for c in cases if c.name in (args.case or ()) or not (args.case or c.opt_in)]
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    runner = Runner(child_env(BENCH_DIR / "pycache"), BENCH_DIR / "runs")
    try:
        ours = ours_tool(runner)
        theirs = theirs_tool(runner, fresh=args.fresh)
    except BenchError as e:
        log(f"error: {e}")
        return 2
    overhead = runner.overhead()
    log(
        f"ours: {ours.exe} {ours.version}; theirs: {theirs.exe} {theirs.version}; "
        f"launch overhead {overhead * 1000:.1f} ms per run (in every time); "
        f"load average {load_before[0]:.2f} on {os.cpu_count()} cores"
    )
    results = []
    for case in selected:
        repeat = args.repeat or (case.quick_repeat if args.quick else case.repeat)
        results.append(run_case(case, ours, theirs, repeat))
    load_after = os.getloadavg()
    report = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "commit": _git_commit(),
        "machine": {
            "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "tools": {
            t.key: {"title": t.title, "version": t.version, "exe": str(t.exe)}
            for t in (ours, theirs)
        },
        "options": {"quick": args.quick, "repeat": args.repeat, "cases": args.case},
        "launch_overhead_s": round(overhead, 6),
        "peak_rss_source": "gnu-time %M" if runner.gnu_time else "getrusage max (upper bound)",
        "cases": [r.to_json() for r in results],
        "passed": all(r.verdict == "PASS" for r in results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    for r in results:
        if r.error:
            print(f"\n{r.case.name}: ERROR: {r.error}")
    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
    print(
        f"\nratio = ours / theirs (median of {', '.join(sorted({c.metric for c in selected}))}); "
        f"results in {args.output}"
        + (
            "\nnote: the machine was busy (load above core count); wall times are noisy"
            if busy
            else ""
        )
    )
    if any(r.verdict == "ERROR" for r in results):
        return 2
    return 0 if report["passed"] else 1
