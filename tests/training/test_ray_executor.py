"""The grid on a Ray cluster: a head and a worker node on loopback, started (and always stopped) by the test.

Same rows as the local executor for the same seeds; a worker node killed in the middle of the grid loses and
duplicates no row; a node that cannot import the task's code, an unreachable address and a missing Ray give a
failed run or a clear error, never a hang. Each cluster is ray.cluster_utils.Cluster: its nodes are processes of
this test, removed by the finalizer (so no `ray stop`, which would also stop other people's Ray on the machine).
"""

import csv
import importlib
import json
import os
import socket
import sys
import threading
import time

import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.training.executors import LocalExecutor, Outcome, RayExecutor, make_executor
from mujo_edge.training.experiments import LabelEfficiencyGrid, run_label_efficiency
from mujo_edge.training.grid_runs import FAILED_FILE, unresolved_failures
from tests.training.test_experiments import TINY, checkpoint

try:
    import ray
    from ray.cluster_utils import Cluster
except ImportError:  # the cluster extra; CI installs it, so there a missing ray fails instead of skipping
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise
    pytest.skip('needs ray: pip install "mujo-edge[cluster]"', allow_module_level=True)

# the metric columns must agree exactly; `seconds` is wall time and differs
COMPARED = ("target", "method", "pretraining_run", "regime", "fraction", "fold", "run", "seed", "macro_f1")
COMPARED += ("accuracy", "train_windows", "test_windows", "best_epoch", "macro_f1_smoothed", "val_macro_f1")
COMPARED += ("test_subjects", "val_subjects")


def tiny_grid(runs=2):
    # baseline + mujo/finetuned + forest, 2 fractions, `runs` runs over 2 folds
    return LabelEfficiencyGrid(
        target="toy", fractions=(0.5, 1.0), regimes=("baseline", "finetuned"), runs=runs, folds=2, epochs=2, patience=2
    )


def rows_of(folder):
    with (folder / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def key(row):
    return row["method"], row["regime"], row["fraction"], row["fold"], row["run"]


@pytest.fixture
def cluster():
    """A head and one worker node, 1 CPU each, no dashboard, on this machine's own address (Ray's choice: with
    node_ip_address 127.0.0.1 a driver's ray.init waits forever, see the last test); shut down even when the test
    fails."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        c.worker = c.add_node(num_cpus=1)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def test_ray_rows_equal_local_rows_and_resume(tmp_path, make_toy, cluster):
    w, ckpt = make_toy(), {"mujo": checkpoint()}
    local = run_label_efficiency(w, tiny_grid(), ckpt, tmp_path / "local", arch=TINY, executor=LocalExecutor(threads=1))
    seen = []
    remote = run_label_efficiency(
        w,
        tiny_grid(),
        ckpt,
        tmp_path / "ray",
        arch=TINY,
        executor=RayExecutor(address=cluster.address, threads_per_run=1),
        progress=lambda done, total, what: seen.append((done, total)),
    )
    a, b = rows_of(local.parent), rows_of(remote.parent)
    assert len(a) == len(b) == 3 * 2 * 2
    by_key = {key(r): r for r in b}
    assert len(by_key) == len(b)
    for row in a:
        assert {c: row[c] for c in COMPARED} == {c: by_key[key(row)][c] for c in COMPARED}
    assert seen[-1] == (12, 12) and len(seen) == 13  # one bar: the start and every finished run
    assert not (tmp_path / "ray" / FAILED_FILE).exists()
    before = remote.read_text()
    run_label_efficiency(w, tiny_grid(), ckpt, tmp_path / "ray", arch=TINY, executor=RayExecutor(cluster.address))
    assert remote.read_text() == before  # resumable exactly as today: nothing left, nothing rewritten


def test_worker_killed_mid_grid_loses_and_duplicates_no_row(tmp_path, make_toy, cluster):
    w, ckpt, grid = make_toy(), {"mujo": checkpoint()}, tiny_grid(runs=4)
    killed = []

    def kill_worker_after_first_row(row):
        if not killed:  # a run is under way on the worker node: its raylet and workers die at once
            cluster.remove_node(cluster.worker, allow_graceful=False)
            killed.append(row)

    failed = []
    path = run_label_efficiency(
        w,
        grid,
        ckpt,
        tmp_path,
        arch=TINY,
        executor=RayExecutor(address=cluster.address, threads_per_run=1),
        on_run=kill_worker_after_first_row,
        on_failure=lambda job, error: failed.append((job, error)),
    )
    expected = 3 * 2 * 4
    rows = rows_of(path.parent)
    keys = [key(r) for r in rows]
    assert killed and len(keys) == len(set(keys))  # no duplicate
    pending = unresolved_failures(tmp_path, set(keys))
    assert len(rows) + len(pending) == expected  # no loss: every run is a row or a recorded failure
    assert len(failed) == len(pending)
    print(f"worker killed after row 1: {len(rows)} rows, {len(pending)} recorded failed (retries spent)")
    # a second invocation (here on this machine) completes exactly the missing runs
    run_label_efficiency(w, grid, ckpt, tmp_path, arch=TINY, executor=LocalExecutor(threads=1))
    rows = rows_of(path.parent)
    assert len(rows) == expected and len({key(r) for r in rows}) == expected
    assert unresolved_failures(tmp_path, {key(r) for r in rows}) == {}
    confusions = [json.loads(line) for line in (tmp_path / "confusion.jsonl").read_text().splitlines()]
    assert len(confusions) == expected


def test_node_without_the_code_gives_a_failed_run_naming_the_module(tmp_path, cluster, monkeypatch):
    # a module only this driver can import: deleted from disk before the workers look for it, as on a node
    # where mujo-edge is not installed
    (tmp_path / "only_on_driver.py").write_text("def work(shared, job):\n    return shared + job\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("only_on_driver")
    (tmp_path / "only_on_driver.py").unlink()
    started = time.perf_counter()
    outcomes = list(RayExecutor(address=cluster.address).map(module.work, 10, [1, 2]))
    assert time.perf_counter() - started < 60
    assert sorted(o.job for o in outcomes) == [1, 2]
    for o in outcomes:
        assert o.result is None and "No module named 'only_on_driver'" in (o.error or "")
    sys.modules.pop("only_on_driver", None)


def test_failed_runs_are_recorded_apart_and_redone(tmp_path, make_toy):
    """Without Ray: an executor that gives up on some runs. They never reach results.csv (so summaries and
    README tables ignore them), failed.jsonl names them, and the next invocation redoes them."""

    class FlakyExecutor:
        def map(self, fn, shared, jobs):
            for i, job in enumerate(jobs):
                yield Outcome(job, error="WorkerCrashedError: boom") if i % 3 == 0 else Outcome(job, fn(shared, job))

    w, grid = make_toy(), LabelEfficiencyGrid(target="toy", fractions=(1.0,), regimes=(), runs=6, folds=2)
    failed = []
    path = run_label_efficiency(
        w, grid, {}, tmp_path, executor=FlakyExecutor(), on_failure=lambda j, e: failed.append(j)
    )
    assert [str(j) for j in failed] == ["random_forest/- 100% fold 1 run 1", "random_forest/- 100% fold 2 run 4"]
    rows = rows_of(path.parent)
    assert len(rows) == 4 and all(r["macro_f1"] for r in rows)
    assert "(n=4)" in (tmp_path / "summary.md").read_text()
    pending = unresolved_failures(tmp_path, {key(r) for r in rows})
    assert pending == {
        ("random_forest", "-", "1.0", "1", "1"): "WorkerCrashedError: boom",
        ("random_forest", "-", "1.0", "2", "4"): "WorkerCrashedError: boom",
    }
    run_label_efficiency(w, grid, {}, tmp_path)
    rows = rows_of(path.parent)
    assert sorted(int(r["run"]) for r in rows) == [1, 2, 3, 4, 5, 6]
    assert unresolved_failures(tmp_path, {key(r) for r in rows}) == {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_or_wrong_address_is_a_clear_error_in_bounded_time():
    assert not ray.is_initialized()
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"no Ray head answers at 127\.0\.0\.1"):
        list(RayExecutor(address=f"127.0.0.1:{free_port()}", connect_timeout_s=2).map(max, 0, [1]))
    # a port that accepts connections but is not a Ray head (here: a silent TCP server)
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        with pytest.raises(ConfigError, match="not a Ray head"):
            list(RayExecutor(address=f"127.0.0.1:{server.getsockname()[1]}", connect_timeout_s=2).map(max, 0, [1]))
    finally:
        server.close()
    with pytest.raises(ConfigError, match="HOST:PORT"):
        list(RayExecutor(address="nowhere", connect_timeout_s=2).map(max, 0, [1]))
    assert time.perf_counter() - started < 30 and not ray.is_initialized()


def test_without_ray_the_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "mujo-edge\[cluster\]"') as e:
        make_executor("ray")
    assert e.value.field == "--executor"
    with pytest.raises(ConfigError, match="--address needs --executor ray"):
        make_executor("local", address="10.0.0.1:6379")


def test_without_address_ray_runs_on_this_machine_for_the_grid_only(make_toy):
    """The default of --executor ray: Ray started here (in the caller's thread: the processes it starts die with
    the thread that started them) and stopped again when the grid is done."""
    assert not ray.is_initialized()
    outcomes = list(RayExecutor(threads_per_run=1).map(getattr, make_toy(subjects=("1",)), ["classes", "classes"]))
    assert [o.result for o in outcomes] == [("a", "b", "c")] * 2 and not ray.is_initialized()


def test_a_head_this_machine_cannot_join_is_an_error_not_a_hang():
    """After the other Ray tests: the abandoned ray.init thread stays behind. A head bound to 127.0.0.1 answers, but
    advertises this machine's other address, where nothing listens: ray.init alone would wait forever."""
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
    )
    try:
        started = time.perf_counter()
        with pytest.raises(ConfigError, match="could not join the Ray cluster"):
            list(RayExecutor(address=c.address, join_timeout_s=10).map(max, 0, [1]))
        assert time.perf_counter() - started < 30
    finally:
        c.shutdown()


def test_readme_quotes_the_committed_scaling_results():
    """The README's full-grid hours table is the one benchmarks/ray_scaling.py wrote (no number by hand)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    md = (repo / "benchmarks/results/ray_scaling.md").read_text()
    spar = md.split("**spar_watch**")[1].split("\n\n")[1]
    assert spar.startswith("| nodes |") and spar in (repo / "README.md").read_text()
