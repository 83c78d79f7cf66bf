"""Footprint: the deployment package's size, and each handler's peak memory after one request.

    python -m benchmarks.footprint

* **Package.** If ``make package`` left ``.serverless/*.zip``, their sizes (compressed, and
  unpacked). Always also an estimate from this checkout: ``bot/`` as ``serverless.yml``
  packages it (without ``bot/local``) plus the installed files of ``requirements.txt``'s
  distributions and everything they require (``.pyc`` files left out, as the package has none).
  The venv's wheels are for this machine and Python; the Lambda package's are for aarch64 and
  CPython 3.12, so the two differ slightly.
* **Memory.** A fresh process per handler (as in ``benchmarks.cold_start``, against moto and
  the Slack stand-in on 127.0.0.1) imports it, handles one event — interactions: a signed
  Approve click; notifier: one SQS record; expirations: the scheduled sweep — and reports
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss``; the import floor and a bare interpreter for
  reference, and the function's configured ``memorySize`` from ``serverless.yml``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from benchmarks.common import ROOT, local_stack, machine, median

RUNS = 3


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


def runtime_distributions() -> list[metadata.Distribution]:
    """``requirements.txt`` and everything it requires (markers evaluated here)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pending: list[tuple[str, frozenset[str]]] = []
    for raw_line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pending.append((requirement.name, frozenset(requirement.extras)))
    seen: dict[str, metadata.Distribution] = {}
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen and not extras:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if requirement.marker is None or any(
                requirement.marker.evaluate(env) for env in environments
            ):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def installed_size(dist: metadata.Distribution) -> tuple[int, int]:
    """(bytes without bytecode, bytes of this interpreter's .pyc files) of a distribution."""
    source = bytecode = 0
    for file in dist.files or []:
        path = Path(str(file.locate()))
        if not path.is_file():
            continue
        if "__pycache__" in file.parts or file.suffix == ".pyc":
            bytecode += path.stat().st_size
        else:
            source += path.stat().st_size
    return source, bytecode


def bot_size() -> int:
    return sum(
        p.stat().st_size
        for p in (ROOT / "bot").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and "local" not in p.parts
    )


def package_report() -> None:
    zips = sorted((ROOT / ".serverless").glob("*.zip"))
    if zips:
        print("deployment package (.serverless/, from `make package`)")
        for path in zips:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
                unpacked = sum(i.file_size for i in infos)
                pyc = sum(1 for i in infos if i.filename.endswith(".pyc"))
            print(
                f"  {path.name:<28} {human(path.stat().st_size):>10} zipped, "
                f"{human(unpacked):>10} unpacked, {len(infos)} files, {pyc} .pyc"
            )
    else:
        print("deployment package: no .serverless/*.zip (run `make package`); estimate only")
    dists = runtime_distributions()
    measured = [(d.metadata["Name"], d.version, *installed_size(d)) for d in dists]
    own = bot_size()
    total = own + sum(m[2] for m in measured)
    bytecode = sum(m[3] for m in measured)
    print(f"estimate from this venv: {human(total)} unpacked (Lambda's limit: 250 MiB)")
    print(f"  {'bot/ (without bot/local)':<32} {human(own):>10}")
    for name, version, size, _ in sorted(measured, key=lambda r: -r[2]):
        print(f"  {name + ' ' + version:<32} {human(size):>10}")
    print(f"  (their .pyc files, not packaged: {human(bytecode)} more for this Python)")


def configured_memory() -> dict[str, int]:
    """``memorySize`` per function in serverless.yml (the provider's default otherwise)."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads CloudFormation's short tags (``!Ref``, ``!GetAtt``) as nothing."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "serverless.yml").read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506
    default = config.get("provider", {}).get("memorySize", 1024)
    functions: dict[str, dict[str, object]] = {}
    groups = config.get("functions") or []
    for group in groups if isinstance(groups, list) else [groups]:
        if isinstance(group, dict):  # a list item may be a ${...} reference instead
            functions.update(group)
    return {
        name: int(str(spec.get("memorySize", default)))
        for name, spec in functions.items()
        if isinstance(spec, dict)
    }


def memory_report() -> bool:
    from benchmarks.cold_start import Fixture, Variant, put_secrets, run_child

    kinds = {
        "bare interpreter": Variant("bare"),
        "floor (imports only)": Variant("floor"),
        "interactions": Variant("interactions"),
        "notifier": Variant("notifier"),
        "expirations": Variant("expirations"),
    }
    from benchmarks import cold_start

    cold_start.BODIES.setdefault("bare", "t1 = time.perf_counter()\nresult = None\n")
    rss: dict[str, list[int]] = {name: [] for name in kinds}
    hwm: dict[str, list[int]] = {name: [] for name in kinds}
    with local_stack() as stack, tempfile.TemporaryDirectory() as tmpdir:
        import boto3

        from bot.local.infra import create_queues

        tmp = Path(tmpdir)
        put_secrets()
        fixture = Fixture(stack.slack, create_queues(boto3.client("sqs"), name="Q").arn)
        for variant in kinds.values():  # fills the bytecode cache
            run_child(variant, fixture.event(variant), tmp)
        for _ in range(RUNS):
            for name, variant in kinds.items():
                report, _ = run_child(variant, fixture.event(variant), tmp)
                rss[name].append(int(report["rss_kb"]))
                hwm[name].append(int(report["hwm_kb"] or 0))
    memory = configured_memory()
    print(f"\npeak RSS after one request, fresh process (median of {RUNS})")
    print(f"  {'':<22} {'ru_maxrss':>10} {'VmHWM':>10}")
    for name, values in rss.items():
        configured = memory.get(name)
        note = f"   (memorySize {configured} MB)" if configured else ""
        print(
            f"  {name:<22} {median(values) / 1024:6.1f} MiB {median(hwm[name]) / 1024:6.1f} MiB"
            f"{note}"
        )
    print("  (VmHWM from /proc/self/status: the same peak, read another way)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(f"machine: {machine()}")
    started = time.perf_counter()
    package_report()
    ok = memory_report()
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
