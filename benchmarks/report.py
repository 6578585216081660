"""JSON and Markdown output of the benchmark suite."""

import json
from pathlib import Path

NA = "n/a"


def write_json(results, path):
    """Write ``results`` as indented JSON (atomically, via a temporary file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)


def format_ms(value):
    """Format milliseconds with about three significant digits, or ``n/a``."""
    if value is None:
        return NA
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_ratio(numerator, denominator):
    """Format ``numerator / denominator`` as ``12.3×``, or ``n/a``."""
    if numerator is None or denominator is None or denominator <= 0:
        return NA
    return f"{numerator / denominator:.3g}×"


def format_sci(value):
    """Format a small difference as ``1.2e-09``, or ``n/a``."""
    return NA if value is None else f"{value:.1e}"


def _versions_line(packages):
    """Render ``name version`` pairs of the installed packages."""
    return ", ".join(f"{name} {version}" for name, version in packages.items() if version)


def _threads_lines(peers):
    """Describe how many threads each available peer uses."""
    lines = []
    sklearn = peers.get("sklearn", {}).get("info", {})
    for pool in sklearn.get("threadpools", []):
        version = f" {pool['version']}" if pool.get("version") else ""
        arch = f", {pool['architecture']}" if pool.get("architecture") else ""
        lines.append(
            f"thread pool in the benchmark process: {pool.get('internal_api')}{version} ({pool.get('library')}), "
            f"{pool.get('num_threads')} threads{arch}"
        )
    numba_info = peers.get("gmm_numba", {}).get("info", {})
    if "numba_num_threads" in numba_info:
        lines.append(
            f"gmm_numba: Numba {numba_info.get('numba_version')}, {numba_info['numba_num_threads']} threads, "
            f"layer {numba_info.get('numba_threading_layer')}, vectors {numba_info.get('vector_width', 'n/a')}"
        )
    onedal = peers.get("onedal", {}).get("info", {})
    if "num_threads" in onedal:
        lines.append(
            f"oneDAL: daal4py {onedal.get('daal4py_version')} (numpy {onedal.get('numpy_version')}, "
            f"separate venv), {onedal['num_threads']} TBB threads"
        )
    return lines


def machine_lines(machine):
    """Describe the machine of :func:`benchmarks.machine.describe_machine` in a few lines (no bullets)."""
    cpu = machine["cpu"]
    return [
        f"Date: {machine['date']}",
        f"CPU: {cpu['model']}; flags: {' '.join(cpu['flags']) or 'none listed'}",
        f"Cores: {cpu['logical_cpus']} logical, {cpu['usable_cpus']} usable, "
        f"{cpu['physical_cores'] or '?'} physical; RAM {machine['memory_gib']} GiB",
        f"Python {machine['python']} on {machine['platform']}; scheduling: {machine.get('priority')}",
        f"Packages: {_versions_line(machine['packages'])}",
    ]


def render_header(results):
    """Render the title, machine description and method as Markdown lines."""
    machine, suite, peers = results["machine"], results["suite"], results["peers"]
    lines = ["# gmm_numba EM benchmark" + (" (--quick)" if suite["quick"] else ""), ""]
    lines += [f"- {line}" for line in machine_lines(machine)]
    for peer in peers.values():
        state = "available" if peer["available"] else f"n/a ({peer['reason']})"
        version = peer.get("info", {}).get("version") or peer.get("info", {}).get("daal4py_version")
        lines.append(f"- Peer {peer['label']}: {state}" + (f", version {version}" if version else ""))
    lines += [f"- {line}" for line in _threads_lines(peers)]
    lines += ["", "## Method", ""] + [f"- {note}" for note in suite["notes"]]
    return lines


def _peer_cell(entry, key):
    """Fetch ``entry[key]`` for an ``ok`` peer entry, else ``None``."""
    if not entry or entry.get("status") != "ok":
        return None
    return entry.get(key)


def render_table(results):
    """Render the per-case table as Markdown lines."""
    peer_names = list(results["peers"])
    labels = {name: results["peers"][name]["label"] for name in peer_names}
    first, others = peer_names[0], peer_names[1:]
    checked = [name for name in peer_names if name != results["suite"]["reference"]]
    header = (
        ["N", "D", "K", "cov", "dtype", "X MiB"]
        + [f"{labels[n]} ms/iter" for n in peer_names]
        + [f"{labels[n]} ÷ {labels[first]}" for n in others]
        + [f"peak extra MiB {labels[n]}" for n in peer_names]
        + [f"max abs Δmeans {labels[n]}" for n in checked]
        + ["other CPU %"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in results["cases"]:
        case, entries = row["case"], row["peers"]
        ms = {n: _peer_cell(entries.get(n), "ms_per_iter") for n in peer_names}
        memory = {n: (_peer_cell(entries.get(n), "memory") or {}).get("extra_mib") for n in peer_names}
        cells = [
            f"{case['n_samples']:,}",
            str(case["n_features"]),
            str(case["n_components"]),
            case["covariance_type"],
            case["dtype"],
            f"{row['data_mib']:.0f}",
        ]
        cells += [format_ms(ms[n]) for n in peer_names]
        cells += [format_ratio(ms[n], ms[first]) for n in others]
        cells += [format_ms(memory[n]) for n in peer_names]
        cells += [format_sci((_peer_cell(entries.get(n), "agreement") or {}).get("max_abs_mean_diff")) for n in checked]
        share = row.get("foreign_cpu_share")
        cells.append(NA if share is None else f"{100 * share:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_reasons(results):
    """List why cells are ``n/a`` (one line per distinct peer and reason)."""
    seen = {}
    for row in results["cases"]:
        for name, entry in row["peers"].items():
            if entry.get("status") != "ok":
                seen.setdefault((name, entry.get("reason", "")), []).append(row["case"]["case_id"])
    lines = []
    for (name, reason), case_ids in seen.items():
        label = results["peers"][name]["label"]
        lines.append(f"- {label} n/a in {len(case_ids)} case(s): {reason}")
    return ["", "## n/a cells", ""] + lines if lines else []


def render_markdown(results):
    """Render the whole report.

    Parameters
    ----------
    results : dict
        Structure written by ``benchmarks/run.py``.

    Returns
    -------
    str
    """
    lines = render_header(results) + ["", "## Results", ""] + render_table(results)
    lines += render_reasons(results)
    lines += ["", "## Observations", ""] + [f"- {note}" for note in results.get("observations", [])]
    return "\n".join(lines) + "\n"


def write_markdown(results, path):
    """Write :func:`render_markdown` output to ``path``."""
    Path(path).write_text(render_markdown(results))
