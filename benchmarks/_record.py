"""The benchmark record: a printed table and a dated section of BENCHMARKS.md per machine.

A section's heading names the date, the CPU and the core count. Running again on the same
day and machine updates that section: rows of the cases just run are replaced (each row's
Python and R seconds always come from one run), the other rows stay.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
MARKER = "<!-- results: sections below are written by benchmarks/_record.py -->"
TABLE_HEAD = ("| case | Python s | R s | R / Python | note |\n"
              "|---|---:|---:|---:|---|")


def machine() -> dict[str, str]:
    """Where the numbers come from: date, cores, memory, CPU, Python and its libraries."""
    cpu = platform.processor() or "unknown CPU"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except (OSError, ValueError):
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "absent"

    return {
        "date": _dt.date.today().isoformat(),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "scikit-sparse": version("scikit-sparse"),
        "spatialgamm": version("spatialgamm"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def _fmt(x: float | None, spec: str, width: int = 0) -> str:
    return ("—" if x is None else format(x, spec)).rjust(width)


def _row(res) -> str:
    note = res.note.replace("|", "/").replace("\n", " ")
    if len(note) > 120:
        note = note[:117] + "..."
    return (f"| {res.case} | {_fmt(res.python_s, '.4g')} | {_fmt(res.r_s, '.4g')} | "
            f"{_fmt(res.ratio, '.2f')} | {note} |")


def format_table(results: Sequence) -> str:
    """Plain-text table: case, Python seconds, R seconds, R / Python, note."""
    lines = [f"{'case':22s} {'python s':>10s} {'R s':>10s} {'R/python':>9s}  note"]
    for r in results:
        lines.append(f"{r.case:22s} {_fmt(r.python_s, '.4g', 10)} {_fmt(r.r_s, '.4g', 10)} "
                     f"{_fmt(r.ratio, '.2f', 9)}  {r.note}")
    return "\n".join(lines)


def _heading(info: dict[str, str]) -> str:
    return f"## {info['date']} · {info['cpu']} · {info['nproc']} cores"


def _section(info: dict[str, str], r_line: str, rows: list[str], repeats: int | None,
             quick: bool) -> str:
    solver = "CHOLMOD" if info["scikit-sparse"] != "absent" else "no CHOLMOD: scipy fallback"
    lines = [
        _heading(info),
        "",
        f"- Machine: {info['nproc']} cores (`nproc`), {info['memory']} memory, {info['cpu']}.",
        f"- Python {info['python']}: spatialgamm {info['spatialgamm']}, numpy {info['numpy']}, "
        f"scipy {info['scipy']}, scikit-sparse {info['scikit-sparse']} ({solver}).",
        r_line,
        f"- Last run: `{info['command']}`, repeats {repeats or '?'}{' (quick)' if quick else ''}.",
        "",
        TABLE_HEAD,
        *rows,
        "",
    ]
    return "\n".join(lines)


def _split_sections(text: str) -> tuple[str, list[str]]:
    """Header (through MARKER) and the list of '## ' sections after it."""
    if MARKER in text:
        head, rest = text.split(MARKER, 1)
        head += MARKER + "\n"
    else:
        head, rest = text.rstrip("\n") + "\n\n" + MARKER + "\n", ""
    sections, current = [], []
    for line in [*rest.splitlines(), "## end"]:
        if line.startswith("## "):
            text = "\n".join(current).strip("\n")
            if text.strip():
                sections.append(text)
            current = []
        current.append(line)
    return head, sections


def record(results: Sequence, r_versions: dict | None = None, *, repeats: int | None = None,
           quick: bool = False, path: Path | None = RESULTS_MD) -> str:
    """Print the results table; update today's section for this machine in ``path``.

    Parameters
    ----------
    results : sequence of Result
        Objects with ``case``, ``python_s``, ``r_s``, ``ratio``, ``note``.
    r_versions : dict, optional
        peers.R's ``R``, ``lme4``, ``mgcv`` versions; empty or None when R was not run.
    repeats : int, optional
        The ``--repeats`` of the run, for the record.
    quick : bool
        Whether the run was ``--quick``.
    path : Path or None
        The markdown file to update (default BENCHMARKS.md at the repository root); None
        prints only.

    Returns
    -------
    str
        The printed table.
    """
    table = format_table(results)
    print(table)
    if path is None:
        return table
    info = machine()
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, sections = _split_sections(text)
    heading = _heading(info)
    old = next((s for s in sections if s.splitlines()[0] == heading), None)
    rows: dict[str, str] = {}
    r_line = "- R: not run."
    if old is not None:
        for line in old.splitlines():
            if line.startswith("| ") and not line.startswith(("| case ", "|---")):
                rows[line.split("|")[1].strip()] = line
            elif line.startswith("- R"):
                r_line = line  # kept when this run skipped R
    if r_versions:
        r_line = (f"- R: {r_versions.get('R', '?')}, lme4 {r_versions.get('lme4', '?')}, "
                  f"mgcv {r_versions.get('mgcv', '?')}.")
    for res in results:
        rows[res.case] = _row(res)
    new = _section(info, r_line, list(rows.values()), repeats, quick).strip("\n")
    sections = [new if s is old else s for s in sections] if old is not None else [*sections, new]
    out = head + "\n" + "\n\n".join(sections) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(out)
    os.replace(tmp, path)
    print(f"recorded in {path}")
    return table
