"""The ``spikecore`` command: info, run, compare, convert, check, demo.

Exit status, one meaning each, so scripts can tell them apart:

- 0: done (and, for ``compare``/``check``, the answer is yes).
- 1: the answer is no: ``compare`` found a tolerance exceeded, ``check`` found the
  model does not fit. Usable as a gate in a user's own CI.
- 2: the input or the command line is wrong; one ``error: ...`` message says what.
- 3: an internal error (a bug in spikecore or a backend): the traceback is printed.
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_atomically
from .backends.base import ALIASES, BACKENDS

EXIT_OK, EXIT_TOLERANCE, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _semantics_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for field in ("integrator", "reset", "input_meaning", "update_order"):
        value = getattr(args, field, None)
        if value is not None:
            out[field] = value
    return out


def _load(args: argparse.Namespace):
    import spikecore as sc

    return sc.read(args.model, dialect=args.dialect, dt=args.dt,
                   recurrent_delay=args.recurrent_delay,
                   recurrent_delay_on=args.recurrent_delay_on, **_semantics_overrides(args))


NO_SPIKES = ("note: no neuron spiked, so agreement says nothing about spikes; drive the "
             "network harder (--amplitude, --rate) or give --input")


def describe_input(args: argparse.Namespace) -> str:
    """What the run was driven by, said in the output and the JSON (``input``)."""
    if args.input:
        return f"from {args.input}"
    return (f"generated: seeded Poisson spikes of {args.amplitude:g} at {args.rate:g} Hz "
            f"(seed {args.seed}) on every Input for {args.steps or 1000} steps; give your own "
            "with --input FILE.npy|.npz")


def _inputs(args: argparse.Namespace, graph) -> tuple[Any, int | None]:
    """Inputs from --input (.npy for one Input, .npz by Input name), else seeded Poisson
    spikes at --rate Hz for --steps steps."""
    from .errors import InputError

    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise InputError(f"--input {str(path)!r}: no such file")
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as f:
                    return {k: f[k] for k in f.files}, args.steps
            # memory-mapped: simulate() checks the size before anything is copied
            return np.load(path, allow_pickle=False, mmap_mode="r"), args.steps
        except (ValueError, OSError) as exc:
            raise InputError(f"--input {str(path)!r}: not a readable .npy/.npz file: {exc}") from exc
    steps = args.steps or 1000
    flat = graph.flatten()
    shapes = flat.shapes()
    # Refuse before drawing: the draw needs ~17 bytes per element (floats, then a mask).
    from .simulate import record_plan, require_memory

    require_memory(flat, 1, steps, record_plan(flat, _record(args)),
                   3 * sum(math.prod(shapes[n]) for n in flat.input_names))
    rng = np.random.default_rng(args.seed)
    p = args.rate * graph.semantics.dt
    data = {n: (rng.random((1, steps, *shapes[n])) < p) * float(args.amplitude)
            for n in graph.flatten().input_names}
    return data, steps


def _record(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(s.strip() for s in args.record.split(",") if s.strip())


def save_result_npz(result, path: str | os.PathLike) -> Path:
    """Write a Result to .npz atomically (keys ``spikes/<node>``, ``traces/<node>/<state>``,
    ``outputs/<node>``, ``dt``)."""
    path = Path(path)
    arrays = {"dt": np.array(result.dt), "backend": np.array(result.backend)}
    for n, a in result.spikes.items():
        arrays[f"spikes/{n}"] = a
    for n, states in result.traces.items():
        for s, a in states.items():
            arrays[f"traces/{n}/{s}"] = a
    for n, a in result.outputs.items():
        arrays[f"outputs/{n}"] = a

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: savez would append '.npz' to a name
            np.savez_compressed(f, **arrays)

    return write_atomically(path, save, "result archive")


# ---------------------------------------------------------------- commands
def cmd_info(args: argparse.Namespace) -> int:
    import spikecore as sc

    from .dialects import DIALECTS

    avail = sc.available_backends()
    info = {
        "spikecore": sc.__version__,
        "python": platform.python_version(),
        "backends": {k: v.as_dict() for k, v in avail.items()},
        "dialects": {k: d.description for k, d in sorted(DIALECTS.items())},
    }
    if args.matrix:
        from .support import support_matrix

        info["matrix"] = support_matrix()
    if args.json:
        _print_json(info)
        return EXIT_OK
    print(f"spikecore {info['spikecore']} on Python {info['python']}")
    print("backends:")
    for name, a in avail.items():
        state = f"available ({a.version})" if a.available else "UNAVAILABLE"
        print(f"  {name:7s} {state}")
        if a.reason:
            print(f"          {a.reason}")
        if not a.available and a.fix:
            print(f"          fix: {a.fix}")
    print("dialects: " + ", ".join(sorted(DIALECTS)) + ", explicit")
    if args.matrix:
        from .support import format_matrix

        print(format_matrix(info["matrix"]))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import spikecore as sc

    graph = _load(args)
    inputs, steps = _inputs(args, graph)
    result = sc.simulate(graph, inputs, backend=args.backend, steps=steps, record=_record(args),
                         progress=_progress(args))
    if args.out:
        save_result_npz(result, args.out)
    summary = result.summary()
    summary["input"] = describe_input(args)
    if args.out:
        summary["written"] = str(args.out)
    if args.json:
        _print_json(summary)
    else:
        print(f"{graph!r}")
        print(f"input: {summary['input']}")
        print(f"ran {summary['steps']} steps on {result.backend} in {result.wall_time:.3f} s "
              f"(build {result.build_time:.3f} s)")
        for n, c in summary["spike_counts"].items():
            print(f"  {n}: {c} spikes")
        if summary["spike_counts"] and not any(summary["spike_counts"].values()):
            print(NO_SPIKES)
        if args.out:
            print(f"wrote {args.out}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    import spikecore as sc

    graph = _load(args)
    inputs, steps = _inputs(args, graph)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    bars = {b: {"progress": True} for b in backends} if _progress(args) else None
    report = sc.compare(graph, inputs, backends=backends, steps=steps, record=_record(args),
                        progress=not args.json, backend_options=bars)
    if args.report:
        from .report import write_report

        write_report(report, args.report)
    if args.json:
        _print_json({**report.to_dict(), "input": describe_input(args)})
    else:
        print(f"{graph!r}")
        print(f"input: {describe_input(args)}")
        print(report.table())
        if not any(np.count_nonzero(a) for r in report.results.values()
                   for a in r.spikes.values()):
            print(NO_SPIKES)
        if args.report:
            print(f"report written to {args.report}")
    return EXIT_OK if report.ok else EXIT_TOLERANCE


def cmd_convert(args: argparse.Namespace) -> int:
    import spikecore as sc

    graph = _load(args)
    sc.write(graph, args.output)
    if args.json:
        _print_json({"written": str(args.output), "semantics": graph.semantics.to_dict(),
                     "nodes": len(graph.nodes), "edges": len(graph.edges)})
    else:
        print(f"wrote {args.output}: {graph!r}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .hardware.loihi2 import report_fit

    return report_fit(_load(args), args.target, args.json)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main(out_dir=args.out, json_output=args.json)


# ---------------------------------------------------------------- parser
def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a .nir file")
    p.add_argument("--dialect", help="how a foreign file is meant: norse, snntorch, ..., explicit")
    p.add_argument("--dt", type=float, help="step in seconds (overrides dialect/file)")
    p.add_argument("--integrator", choices=("euler", "exact"))
    p.add_argument("--reset", choices=("to_value", "subtract"))
    p.add_argument("--input-meaning", dest="input_meaning", choices=("current", "increment"))
    p.add_argument("--update-order", dest="update_order", choices=("current_first", "voltage_first"))
    p.add_argument("--recurrent-delay", dest="recurrent_delay", type=int, default=1,
                   help="steps on each back edge of a foreign file's cycles (default 1)")
    p.add_argument("--recurrent-delay-on", dest="recurrent_delay_on",
                   choices=("spikes", "weights"),
                   help="where a foreign cycle's delay sits (default: the dialect's)")


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", help=".npy ([batch,] steps, *shape) or .npz (one array per Input)")
    p.add_argument("--steps", type=int, help="steps to run (default: input length, else 1000)")
    p.add_argument("--rate", type=float, default=50.0,
                   help="without --input: Poisson input rate in Hz (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated input")
    p.add_argument("--amplitude", type=float, default=1.0,
                   help="without --input: value of each generated input spike (default 1)")
    p.add_argument("--record", default="spikes",
                   help="comma-separated: spikes, v, i, or node:name (default spikes)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bar on stderr for runs over a few seconds (default: when "
                        "stderr is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def _progress(args: argparse.Namespace) -> bool:
    """``--progress``/``--no-progress``, else on when stderr is a terminal."""
    if getattr(args, "progress", None) is not None:
        return bool(args.progress)
    return sys.stderr.isatty()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spikecore", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="version, backends with availability, dialects")
    p.add_argument("--matrix", action="store_true", help="primitive x backend support matrix")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run", help="simulate a NIR file on one backend")
    _add_model_args(p)
    _add_input_args(p)
    p.add_argument("--backend", default="brian2", choices=(*BACKENDS, *ALIASES),
                   help="engine: brian2, torch or lava (norse: alias of torch)")
    p.add_argument("--out", help="write the recording to this .npz")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run on several backends and report agreement "
                                       "(exit 1 when a tolerance fails)")
    _add_model_args(p)
    _add_input_args(p)
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated engines (norse: alias of torch)")
    p.add_argument("--report", help="directory for the report (JSON, HTML, figures)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("convert", help="read a (foreign) NIR file and write it with spikecore "
                                       "semantics")
    _add_model_args(p)
    p.add_argument("output", help="the .nir file to write")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("check", help="does the model fit a neuromorphic target, and at what "
                                     "cost (exit 1 if it does not fit)")
    _add_model_args(p)
    p.add_argument("--target", default="loihi2", help="hardware target (default loihi2)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="the main demo: bundled data on every backend")
    p.add_argument("--out", default="reports/demo", help="report directory (default reports/demo)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import SpikecoreError

    parser = build_parser()
    # Allow --json anywhere on the line, e.g. `spikecore info --json`.
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    argv = [a for a in argv if a != "--json"]
    args = parser.parse_args(argv)
    args.json = want_json
    # Warnings read as the CLI's own lines, not as a Python source location (restored
    # afterwards: main() also runs inside other programs, e.g. tests).
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_a, **_k: \
        f"warning: {as_flags(str(message))}\n"
    try:
        status = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return status
    except SpikecoreError as exc:
        msg = as_flags(str(exc))
        if want_json:
            _print_json({"error": type(exc).__name__, "message": msg})
        else:
            print(f"error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `spikecore info | head`: the reader left; nothing is wrong with the command.
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never exit 1
        import traceback

        traceback.print_exc()
        msg = (f"internal error ({type(exc).__name__}): {exc}. This is a bug in spikecore "
               "or a backend, not in your input; please report it with the traceback above")
        if want_json:
            _print_json({"error": "InternalError", "message": msg})
        else:
            print(msg, file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        warnings.formatwarning = formatwarning


#: Keyword options of the Python API that are flags here: messages say them as flags.
_FLAG_OPTIONS = ("dialect", "dt", "integrator", "reset", "input_meaning", "update_order",
                 "recurrent_delay_on", "recurrent_delay")
_KEYWORD = re.compile(r"\b(" + "|".join(_FLAG_OPTIONS) + r")=((?:'[^']*'(?:\|'[^']*')*)|"
                      r"<[^>]*>|[^\s,;)]+)")


def as_flags(message: str) -> str:
    """An error message in the command line's words: ``dialect='explicit'`` becomes
    ``--dialect explicit``, ``integrator='euler'|'exact'`` ``--integrator euler|exact``."""
    def flag(m: re.Match) -> str:
        return f"--{m.group(1).replace('_', '-')} {m.group(2).replace(chr(39), '')}"

    return _KEYWORD.sub(flag, message)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
