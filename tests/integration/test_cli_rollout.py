"""`kruise-py rollout …` as users run it, against the real control plane and operator."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from .conftest import Kubectl, OperatorProcess, wait_for
from .test_statefulset import asts, set_image, status_of, wait_rolled_out


def cli(kubeconfig: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kruise_py", "rollout", *args, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def images(kubectl: Kubectl, ns: str, name: str) -> set[str]:
    pods = kubectl.json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]
    return {p["spec"]["containers"][0]["image"] for p in pods}


def test_status_follows_a_rollout_until_it_completes(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("follow", 4, minReadySeconds=1), ns)
    res = cli(kubeconfig, "status", "follow", "-n", ns, "--timeout", "2m")
    assert res.returncode == 0, res.stdout + res.stderr
    set_image(kubectl, ns, "follow", "nginx:1.27")
    res = cli(kubeconfig, "status", "follow", "-n", ns, "--timeout", "2m")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert (
        lines[-1].startswith("follow: 4/4 updated, 4/4 ready") and "rolling update complete" in lines[-1]
    ), lines
    # Plain lines (not a terminal), printed when something changed; counts never go backwards.
    assert all(not line.startswith("[") for line in lines)
    updated = [int(line.split(": ", 1)[1].split("/", 1)[0]) for line in lines]
    assert updated == sorted(updated)
    assert images(kubectl, ns, "follow") == {"nginx:1.27"}
    st = status_of(kubectl, ns, "follow")
    assert st["currentRevision"] == st["updateRevision"] and st["updatedReadyReplicas"] == 4


def test_status_draws_a_progress_bar_on_a_terminal(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("bar", 2), ns)
    wait_rolled_out(kubectl, ns, "bar", 2)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kruise_py",
            "rollout",
            "status",
            "bar",
            "-n",
            ns,
            "--kubeconfig",
            str(kubeconfig),
            "--timeout",
            "60s",
        ],
        stdout=secondary,
        stderr=subprocess.PIPE,
    )
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(60) == 0
    os.close(primary)
    text = out.decode()
    assert "[########################] 100% bar: 2/2 updated" in text, text


def test_pause_holds_a_rollout_and_resume_finishes_it(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("held", 3), ns)
    wait_rolled_out(kubectl, ns, "held", 3)
    res = cli(kubeconfig, "pause", "held", "-n", ns)
    assert res.returncode == 0 and res.stdout.strip() == "statefulset.apps.kruise.io/held paused", res
    assert (
        cli(kubeconfig, "pause", "held", "-n", ns).stdout.strip()
        == "statefulset.apps.kruise.io/held already paused"
    )
    spec = kubectl.json("get", "asts", "held", "-n", ns)["spec"]
    assert spec["updateStrategy"]["rollingUpdate"]["paused"] is True
    set_image(kubectl, ns, "held", "nginx:1.27")
    generation = kubectl.json("get", "asts", "held", "-n", ns)["metadata"]["generation"]
    # The controller has seen the new template and updated nothing.
    st = wait_for(
        lambda: (s := status_of(kubectl, ns, "held")).get("observedGeneration") == generation and s,
        60,
        what="the new template observed",
    )
    assert st["updatedReplicas"] == 0 and st["updateRevision"] != st["currentRevision"]
    once = cli(kubeconfig, "status", "held", "-n", ns, "--no-watch")
    assert (
        once.returncode == 1 and "paused" in once.stdout and "kruise-py rollout resume held" in once.stdout
    ), once
    timed = cli(kubeconfig, "status", "held", "-n", ns, "--timeout", "2s")
    assert timed.returncode == 1 and "timed out after 2s" in timed.stderr and "paused" in timed.stderr, timed
    assert images(kubectl, ns, "held") == {"nginx:1.25"}

    res = cli(kubeconfig, "resume", "held", "-n", ns)
    assert res.returncode == 0 and res.stdout.strip() == "statefulset.apps.kruise.io/held resumed", res
    done = cli(kubeconfig, "status", "held", "-n", ns, "--timeout", "2m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert images(kubectl, ns, "held") == {"nginx:1.27"}


def test_history_and_undo(operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str) -> None:
    kubectl.apply(asts("hist", 2, max_unavailable=2), ns)
    wait_rolled_out(kubectl, ns, "hist", 2)
    for image in ("nginx:1.26", "nginx:1.27"):
        set_image(kubectl, ns, "hist", image)
        wait_rolled_out(kubectl, ns, "hist", 2)

    res = cli(kubeconfig, "history", "hist", "-n", ns)
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()[2:]]
    assert [(r[0], r[-1]) for r in rows] == [
        ("1", "app=nginx:1.25"),
        ("2", "app=nginx:1.26"),
        ("3", "app=nginx:1.27"),
    ]
    assert rows[2][2] == "current,update"
    shown = cli(kubeconfig, "history", "hist", "-n", ns, "--revision", "1")
    assert (
        shown.returncode == 0 and "image: nginx:1.25" in shown.stdout and "with revision #1" in shown.stdout
    )

    # undo: back to the previous revision (2), which becomes the newest (4), as kubectl does.
    res = cli(kubeconfig, "undo", "hist", "-n", ns)
    assert res.returncode == 0 and "rolled back to revision 2" in res.stdout, res
    assert cli(kubeconfig, "status", "hist", "-n", ns, "--timeout", "2m").returncode == 0
    assert images(kubectl, ns, "hist") == {"nginx:1.26"}
    rows = [line.split() for line in cli(kubeconfig, "history", "hist", "-n", ns).stdout.splitlines()[2:]]
    assert [(r[0], r[-1]) for r in rows] == [
        ("1", "app=nginx:1.25"),
        ("3", "app=nginx:1.27"),
        ("4", "app=nginx:1.26"),
    ]

    res = cli(kubeconfig, "undo", "hist", "-n", ns, "--to-revision", "1")
    assert res.returncode == 0 and "rolled back to revision 1" in res.stdout, res
    assert cli(kubeconfig, "status", "hist", "-n", ns, "--timeout", "2m").returncode == 0
    assert images(kubectl, ns, "hist") == {"nginx:1.25"}
    tpl = kubectl.json("get", "asts", "hist", "-n", ns)["spec"]["template"]
    assert tpl["spec"]["containers"][0]["image"] == "nginx:1.25"

    skipped = cli(kubeconfig, "undo", "hist", "-n", ns, "--to-revision", "5")
    assert skipped.returncode == 0 and "skipped rollback" in skipped.stdout, skipped
    missing = cli(kubeconfig, "undo", "hist", "-n", ns, "--to-revision", "99")
    assert missing.returncode == 1 and "unable to find the specified revision 99" in missing.stderr, missing
    gone = cli(kubeconfig, "status", "nope", "-n", ns)
    assert gone.returncode == 1 and f"Advanced StatefulSet {ns}/nope not found" in gone.stderr


def test_status_fails_with_the_reason_when_pods_cannot_be_created(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "one-pod"},
        "spec": {"hard": {"pods": "1"}},
    }
    kubectl.apply(quota, ns)
    kubectl.apply(asts("quota", 2, parallel=True), ns)
    res = cli(kubeconfig, "status", "quota", "-n", ns, "--timeout", "2m", "--failure-grace", "2")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rollout of quota failed: FailedCreatePod" in res.stderr and "exceeded quota" in res.stderr, (
        res.stderr
    )
    assert (
        json.loads(kubectl("get", "asts", "quota", "-n", ns, "-o", "jsonpath={.status.conditions}"))[0][
            "type"
        ]
        == "FailedCreatePod"
    )


def _plugin(kubectl: Kubectl, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl kruise-py ...`: kubectl finds the installed `kubectl-kruise_py` on PATH."""
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        KUBECONFIG=str(kubeconfig),
    )
    return subprocess.run(
        [str(kubectl.path), "kruise-py", *args], capture_output=True, text=True, timeout=180, env=env
    )


def test_set_image_and_restart_in_place_through_the_kubectl_plugin(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("plug", 3, parallel=True, max_unavailable=3), ns)
    wait_rolled_out(kubectl, ns, "plug", 3)
    uids = {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=plug")["items"]
    }
    res = _plugin(kubectl, kubeconfig, "set", "image", "asts/plug", "app=nginx:1.27", "-n", ns)
    assert res.returncode == 0 and "image updated" in res.stdout, res.stdout + res.stderr
    res = _plugin(kubectl, kubeconfig, "rollout", "status", "asts/plug", "-n", ns, "--timeout", "2m")
    assert res.returncode == 0, res.stdout + res.stderr
    assert images(kubectl, ns, "plug") == {"nginx:1.27"}
    res = _plugin(kubectl, kubeconfig, "set", "image", "plug", "nope=x", "-n", ns)
    assert res.returncode == 1 and "unable to find container named nope" in res.stderr
    # restart: in place under InPlaceIfPossible (same pods), the annotation on every pod.
    res = _plugin(kubectl, kubeconfig, "rollout", "restart", "plug", "-n", ns)
    assert res.returncode == 0 and "pods in place" in res.stdout, res.stdout + res.stderr

    def restarted() -> bool:
        pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=plug")["items"]
        return len(pods) == 3 and all(
            "kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {}) for p in pods
        )

    wait_for(restarted, 120, what="every pod carries restartedAt")
    wait_rolled_out(kubectl, ns, "plug", 3)
    after = {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=plug")["items"]
    }
    assert after == uids


def test_restart_recreates_under_recreate(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("recr", 2, parallel=True, max_unavailable=2, policy="ReCreate"), ns)
    wait_rolled_out(kubectl, ns, "recr", 2)
    uids = {p["metadata"]["uid"] for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=recr")["items"]}
    res = cli(kubeconfig, "restart", "recr", "-n", ns)
    assert res.returncode == 0 and "pods recreated" in res.stdout, res.stdout + res.stderr
    wait_for(
        lambda: (
            (
                u := {
                    p["metadata"]["uid"]
                    for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=recr")["items"]
                }
            )
            and len(u) == 2
            and not (u & uids)
        ),
        120,
        what="both pods recreated",
    )
