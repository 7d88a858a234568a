"""An atlas sweep on a Ray cluster: one task per network (its activations into the cache), then one task
per block of pairs (each network of the block prepared once, each pair stored when finished).

The cache folder, the models folders and this checkout must be paths every worker sees (a shared
filesystem); each worker writes its entries atomically (``explorer.io.atomic_write_bytes``), so a
worker killed mid-pair leaves no partial entry, and Ray runs its task again (``max_retries``). Tasks
take only names, numbers and paths: each worker finds the sources and the probe itself, the way the
app and the CLI do, so nothing of ours is pickled into a task. The driver then reads every pair
from the cache, the same entries the app reads.
"""

from __future__ import annotations

import os
import socket
import time

from explorer.atlas import AtlasError, Settings

CONNECT_TIMEOUT_S = 5.0
# a task is run again when its worker dies (killed, out of memory) before it finishes
TASK_RETRIES = 3
_ENV = ("EXPLORER_MODELS_DIR", "EXPLORER_ZOO_DIR", "EXPLORER_DATA_DIR", "EXPLORER_CACHE_DIR", "EXPLORER_CACHE_MAX_BYTES")


def _reachable(address: str) -> None:
    """A clear error within CONNECT_TIMEOUT_S when nothing listens at ``host:port`` (ray.init would wait far longer)."""
    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, _, port = address[len("ray://"):].rpartition(":")
    if not host or not port.isdigit():
        raise AtlasError(f"a Ray address is host:port (or 'auto', or 'local' for a Ray on this machine); got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise AtlasError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with `ray start --head` "
                         "or give the head node's address. Nothing was computed or written.") from None


def connect(address: str | None):
    """Ray, initialised: the one already running in this process (``address`` None), a new local one
    (``"local"``: every core of this machine), or an existing cluster (``"auto"``, ``host:port``)."""
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # Ray's FutureWarning on every start otherwise
    import ray

    if address not in (None, "local", "auto"):
        _reachable(address)  # first: an address that does not answer is an error even beside a running Ray
    if ray.is_initialized():
        return ray
    env = {"env_vars": {k: os.environ[k] for k in _ENV if k in os.environ} | {"PYTHONPATH": _project_root()}}
    if address in (None, "local"):
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, runtime_env=env)
        return ray
    try:
        ray.init(address=address, log_to_driver=False, runtime_env=env)
    except ConnectionError as exc:
        raise AtlasError(f"no Ray cluster at {address}: {exc}. Nothing was computed or written.") from None
    return ray


def _project_root() -> str:
    from explorer.data import PROJECT_ROOT

    return str(PROJECT_ROOT)


def _setup(dataset: str, names: list[str], probe_spec: dict, settings: dict, cache_root: str):
    """In a worker: the members, the probe and the cache, found from names the way the driver found them.

    The worker computes with as many threads as the driver (``settings["threads"]``; Ray's default
    is one): a float32 product summed by another number of threads rounds differently in the last
    bit, and a sweep must give the matrix the driver would, to the bit, on machines like the driver's."""
    import torch

    from explorer.atlas import members

    torch.set_num_threads(int(settings["threads"]))
    from explorer.cache import DiskCache
    from explorer.sources import list_sources, load_any_probe

    by_name = {s.name: s for s in list_sources(dataset)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise AtlasError(f"a worker does not see {', '.join(missing)}: the models folders must be on a filesystem every worker shares")
    probe = load_any_probe(dataset, **probe_spec)
    store = DiskCache(cache_root)
    return members([by_name[n] for n in names], settings["depth"], probe, "cpu", store), probe, store


def _activations_task(dataset: str, names: list[str], index: int, probe_spec: dict, settings: dict, cache_root: str) -> str:
    from explorer.sources import activations

    ms, probe, store = _setup(dataset, names, probe_spec, settings, cache_root)
    activations(ms[index].source, probe, "cpu", store)
    return ms[index].name


def _pairs_task(dataset: str, names: list[str], pairs: list[tuple[int, int]], probe_spec: dict, settings: dict,
                cache_root: str) -> dict:
    from explorer.atlas import compute_pairs

    ms, probe, store = _setup(dataset, names, probe_spec, settings, cache_root)
    _fault_injection()
    spec = {k: v for k, v in settings.items() if k != "threads"}
    done = compute_pairs(ms, [tuple(p) for p in pairs], probe, Settings(**spec), "cpu", store)
    return {f"{i},{j}": v for (i, j), v in done.items()}


def _fault_injection() -> None:
    """Tests only (EXPLORER_TEST_KILL_ONCE=path): the first pair task to run kills its own worker process
    abruptly, once (the path marks that it happened), so that the retry is what finishes the sweep."""
    marker = os.environ.get("EXPLORER_TEST_KILL_ONCE")
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)


def blocks(pairs: list[tuple[int, int]], per_task: int) -> list[list[tuple[int, int]]]:
    """The pairs cut into blocks by groups of ``per_task`` networks: a task prepares at most 2 x per_task layers."""
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, j in pairs:
        groups.setdefault((i // per_task, j // per_task), []).append((i, j))
    return [groups[k] for k in sorted(groups)]


def sweep(dataset: str, names: list[str], probe_spec: dict, settings: Settings, missing: list[tuple[int, int]],
          cache_root: str, address: str | None = None, per_task: int = 6, progress=None) -> int:
    """Compute ``missing`` pairs of the networks ``names`` on Ray into the cache at ``cache_root``; returns how
    many tasks ran. ``progress(fraction, text)`` as tasks finish. Interrupted (Ctrl-C), the tasks are cancelled."""
    ray = connect(address)
    opts = {"max_retries": TASK_RETRIES, "num_cpus": 1}
    acts = ray.remote(**opts)(_activations_task)
    pairs = ray.remote(**opts)(_pairs_task)
    import torch

    spec = {"measure": settings.measure, "depth": settings.depth, "debiased": settings.debiased, "fraction": settings.fraction,
            "threads": torch.get_num_threads()}
    needed = sorted({i for p in missing for i in p})
    t0 = time.perf_counter()
    pending = [acts.remote(dataset, names, i, probe_spec, spec, cache_root) for i in needed]
    cut = blocks(missing, per_task)
    total = len(pending) + len(cut)
    done = 0
    try:
        while pending:  # activations first: a pair task then only reads them from the cache
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
            done += 1
            if progress is not None:
                progress(done / total, f"activations ({done} of {len(needed)} networks, {time.perf_counter() - t0:.0f} s)")
        pending = [pairs.remote(dataset, names, b, probe_spec, spec, cache_root) for b in cut]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
            done += 1
            if progress is not None:
                progress(done / total, f"pair blocks ({done - len(needed)} of {total - len(needed)}, {time.perf_counter() - t0:.0f} s)")
    except ray.exceptions.RayTaskError as exc:  # a task raised: its own message, without Ray's traceback
        _cancel(ray, pending)
        raise AtlasError(f"a Ray task failed: {exc.cause}") from None
    except ray.exceptions.RayError as exc:  # a worker died more often than it is retried, the cluster went away
        _cancel(ray, pending)
        raise AtlasError(f"the Ray sweep failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); the pairs finished so far "
                         "are in the cache and a rerun computes only the others") from None
    except BaseException:
        _cancel(ray, pending)
        raise
    return total


def _cancel(ray, refs) -> None:
    for ref in refs:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished, or the cluster is gone
            pass
