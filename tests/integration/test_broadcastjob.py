"""BroadcastJob on the real control plane with several simulated nodes, as a user observes it.

Each test adds its own nodes (labelled with the test's namespace) and selects them with a
nodeSelector, so the session's shared nodes never count. The node simulator runs pods to
completion after `sim.kruise-py.io/run-seconds` with `sim.kruise-py.io/exit-code` (pod or node
annotation).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kubectl, OperatorProcess, wait_for
from .monitor import PodMonitor


class Nodes:
    def __init__(self, kubectl: Kubectl, tag: str) -> None:
        self.kubectl, self.tag, self.names = kubectl, tag, []  # type: ignore[var-annotated]

    def add(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        *,
        taints: list[dict[str, str]] | None = None,
        unschedulable: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> str:
        full = f"{self.tag}-{name}"
        node: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": full,
                "labels": {
                    "kruise-py.io/simulated": "true",
                    "bcj-test": self.tag,
                    "kubernetes.io/hostname": full,
                    **(labels or {}),
                },
                "annotations": annotations or {},
            },
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
        }
        self.kubectl.apply(node)
        self.names.append(full)

        def ready() -> bool:
            # Ready, and the admission-added not-ready taint removed (the simulator does both, in
            # two writes): until then the node rightly does not fit a job's pods.
            n = self.kubectl.json("get", "node", full)
            tainted = any(
                t["key"] == "node.kubernetes.io/not-ready" for t in n.get("spec", {}).get("taints") or []
            )
            return not tainted and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )

        wait_for(ready, 30, what=f"node {full} Ready")
        return full

    def cleanup(self) -> None:
        if self.names:
            self.kubectl.run("delete", "node", *self.names, "--wait=false", check=False)


@pytest.fixture
def nodes(kubectl: Kubectl, ns: str) -> Iterator[Nodes]:
    n = Nodes(kubectl, ns[-20:].strip("-"))
    yield n
    n.cleanup()


def job(
    name: str, tag: str, *, run_seconds: float | None = 1, exit_code: int = 0, **spec: Any
) -> dict[str, Any]:
    """run_seconds=None: no simulator annotations on the pods, the nodes' own ones apply."""
    sim = (
        {}
        if run_seconds is None
        else {"sim.kruise-py.io/run-seconds": str(run_seconds), "sim.kruise-py.io/exit-code": str(exit_code)}
    )
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": sim},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"bcj-test": tag},
                    "containers": [{"name": "task", "image": "busybox:1.36"}],
                },
            },
            **spec,
        },
    }


def status(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "bcj", name, "-n", ns).get("status") or {}


def job_pods(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    return kubectl.json("get", "pods", "-n", ns, "-l", f"broadcastjob-name={name}")["items"]


def test_one_pod_per_fitting_node_and_completion(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    good = nodes.add("good", {"zone": "a"})
    good2 = nodes.add("good2", {"zone": "a"})
    nodes.add("tainted", {"zone": "a"}, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    nodes.add("cordoned", {"zone": "a"}, unschedulable=True)
    nodes.add("other-zone", {"zone": "b"})
    obj = job("all", nodes.tag, run_seconds=2)
    obj["spec"]["template"]["spec"]["nodeSelector"]["zone"] = "a"
    kubectl.apply(obj, ns)
    seen: list[tuple[Any, ...]] = []

    def sample() -> bool:
        st = status(kubectl, ns, "all")
        seen.append(
            (st.get("phase"), st.get("desired"), st.get("active"), st.get("succeeded"), st.get("failed"))
        )
        return st.get("phase") == "completed"

    wait_for(sample, 60, what="job completed")
    pods = job_pods(kubectl, ns, "all")
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted([good, good2])
    st = status(kubectl, ns, "all")
    assert (st["desired"], st["active"], st["succeeded"], st["failed"]) == (2, 0, 2, 0)
    assert ("running", 2, 2, 0, 0) in seen, seen  # observed while the pods ran
    assert st["conditions"][-1]["type"] == "Complete" and st.get("completionTime")
    # Bound through the scheduler with a matchFields term, not a nodeName set by us.
    terms = pods[0]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms[0]["matchFields"][0]["key"] == "metadata.name"
    labels = pods[0]["metadata"]["labels"]
    assert labels["broadcastjob-name"] == "all" and labels["broadcastjob-controller-uid"]
    wait_for(
        lambda: (
            {"JobComplete", "SuccessfulCreate"}
            <= set(
                kubectl(
                    "get",
                    "events",
                    "-n",
                    ns,
                    "--field-selector",
                    "involvedObject.name=all",
                    "-o",
                    "jsonpath={.items[*].reason}",
                ).split()
            )
        ),
        30,
        what="JobComplete and SuccessfulCreate events",
    )


def test_parallelism_is_never_exceeded(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, nodes: Nodes, ns: str
) -> None:
    for i in range(5):
        nodes.add(f"n{i}")
    with PodMonitor(kubeconfig, ns, "broadcastjob-name=par", desired=0) as mon:
        kubectl.apply(job("par", nodes.tag, run_seconds=1, parallelism=2), ns)
        wait_for(lambda: status(kubectl, ns, "par").get("phase") == "completed", 90, what="completed")
    assert mon.max_active == 2, f"recorded at most {mon.max_active} active pods; parallelism is 2"
    assert status(kubectl, ns, "par")["succeeded"] == 5


def test_fail_fast_deletes_the_active_pods(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    slow = {"sim.kruise-py.io/run-seconds": "300"}
    nodes.add("broken", annotations={"sim.kruise-py.io/run-seconds": "1", "sim.kruise-py.io/exit-code": "1"})
    nodes.add("slow1", annotations=slow)
    nodes.add("slow2", annotations=slow)
    kubectl.apply(job("ff", nodes.tag, run_seconds=None), ns)
    wait_for(lambda: status(kubectl, ns, "ff").get("phase") == "failed", 60, what="job failed")
    st = status(kubectl, ns, "ff")
    pods = [
        (p["spec"].get("nodeName"), p["status"].get("phase"), bool(p["metadata"].get("deletionTimestamp")))
        for p in job_pods(kubectl, ns, "ff")
    ]
    assert st["active"] == 0 and st["failed"] == 3, (st, pods)  # 1 failed pod + 2 deleted active pods
    assert st["conditions"][-1]["type"] == "Failed"
    wait_for(
        lambda: all(
            p["status"].get("phase") == "Failed" or p["metadata"].get("deletionTimestamp")
            for p in job_pods(kubectl, ns, "ff")
        ),
        30,
        what="active pods deleted",
    )


def test_pause_policy_stops_creation(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    nodes.add(
        "broken", annotations={"sim.kruise-py.io/run-seconds": "0.2", "sim.kruise-py.io/exit-code": "1"}
    )
    for i in range(3):
        nodes.add(f"n{i}", annotations={"sim.kruise-py.io/run-seconds": "0.5"})
    kubectl.apply(job("pz", nodes.tag, run_seconds=None, parallelism=1, failurePolicy={"type": "Pause"}), ns)
    # The first node (in list order) may not be the broken one: wait until a failure shows up.
    wait_for(lambda: status(kubectl, ns, "pz").get("phase") == "paused", 90, what="paused after a failed pod")
    count = len(job_pods(kubectl, ns, "pz"))
    time.sleep(2)
    assert len(job_pods(kubectl, ns, "pz")) == count, "a paused job must not create pods"
    assert kubectl.json("get", "bcj", "pz", "-n", ns)["spec"]["paused"] is True


def test_deadline_fails_a_job_even_when_nothing_else_happens(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    nodes.add("a")
    nodes.add("b")
    kubectl.apply(
        job(
            "dl", nodes.tag, run_seconds=600, completionPolicy={"type": "Always", "activeDeadlineSeconds": 3}
        ),
        ns,
    )
    wait_for(lambda: status(kubectl, ns, "dl").get("active") == 2, 30, what="2 active pods")
    wait_for(lambda: status(kubectl, ns, "dl").get("phase") == "failed", 30, what="failed by the deadline")
    st = status(kubectl, ns, "dl")
    assert st["conditions"][-1]["type"] == "Failed" and "deadline" in st["conditions"][-1]["message"]
    # Events are posted after the status write, asynchronously.
    wait_for(
        lambda: (
            "DeadlineExceeded"
            in kubectl(
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                "involvedObject.name=dl",
                "-o",
                "jsonpath={.items[*].reason}",
            )
        ),
        30,
        what="DeadlineExceeded event",
    )
    assert st["active"] == 0 and st["failed"] == 2


def test_ttl_deletes_the_finished_job(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    nodes.add("a")
    kubectl.apply(
        job(
            "ttl",
            nodes.tag,
            run_seconds=0.5,
            completionPolicy={"type": "Always", "ttlSecondsAfterFinished": 2},
        ),
        ns,
    )
    wait_for(lambda: status(kubectl, ns, "ttl").get("phase") == "completed", 60, what="completed")
    wait_for(
        lambda: kubectl.run("get", "bcj", "ttl", "-n", ns, check=False).returncode != 0,
        30,
        what="job deleted by TTL",
    )


def test_never_places_a_pod_on_a_node_added_later(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    nodes.add("first")
    kubectl.apply(job("nv", nodes.tag, run_seconds=0.5, completionPolicy={"type": "Never"}), ns)
    wait_for(lambda: status(kubectl, ns, "nv").get("succeeded") == 1, 60, what="first pod succeeded")
    later = nodes.add("later")
    wait_for(
        lambda: any(p["spec"].get("nodeName") == later for p in job_pods(kubectl, ns, "nv")),
        60,
        what="a pod on the node added later",
    )
    wait_for(lambda: status(kubectl, ns, "nv").get("succeeded") == 2, 60, what="second pod succeeded")
    assert status(kubectl, ns, "nv")["phase"] == "running", "a Never job never completes"


def test_tainting_a_node_removes_its_pod(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    n = nodes.add("t")
    kubectl.apply(job("tn", nodes.tag, run_seconds=600, completionPolicy={"type": "Never"}), ns)
    wait_for(lambda: status(kubectl, ns, "tn").get("active") == 1, 30, what="1 active")
    kubectl("taint", "node", n, "dedicated=x:NoSchedule")
    wait_for(
        lambda: (
            status(kubectl, ns, "tn").get("desired") == 0 and status(kubectl, ns, "tn").get("active") == 0
        ),
        30,
        what="pod removed from the tainted node",
    )


def test_a_node_that_stops_fitting_loses_its_pod_which_counts_as_failed(
    operator: OperatorProcess, kubectl: Kubectl, nodes: Nodes, ns: str
) -> None:
    """A real node label change and a real taint on dedicated nodes (removed after the test): each
    time the node's pod is deleted, `desired` drops by one and the pod moves from `active` to
    `failed` for as long as it terminates (a finalizer keeps it terminating here); under the default
    failurePolicy FailFast this does not fail the job (spec §4.4, §4.6 step 11, P10, P12)."""
    hold = "example.io/hold"
    a, b, _ = (nodes.add(n, {"pool": "x"}) for n in ("a", "b", "c"))
    obj = job("unfit", nodes.tag, run_seconds=600, completionPolicy={"type": "Never"})
    obj["spec"]["template"]["metadata"]["finalizers"] = [hold]
    obj["spec"]["template"]["spec"]["nodeSelector"]["pool"] = "x"
    kubectl.apply(obj, ns)

    def counts() -> tuple[Any, ...]:
        st = status(kubectl, ns, "unfit")
        return st.get("phase"), st.get("desired"), st.get("active"), st.get("failed")

    def pod_on(node: str) -> dict[str, Any]:
        return next(p for p in job_pods(kubectl, ns, "unfit") if p["spec"].get("nodeName") == node)

    try:
        wait_for(lambda: counts() == ("running", 3, 3, 0), 60, what="3 active pods")
        kubectl("label", "node", a, "pool=y", "--overwrite")
        wait_for(
            lambda: counts() == ("running", 2, 2, 1), 30, what=f"the pod on {a} removed and counted failed"
        )
        assert pod_on(a)["metadata"].get("deletionTimestamp"), (
            "the pod on the relabelled node is being deleted"
        )
        kubectl("taint", "node", b, "dedicated=x:NoSchedule")
        wait_for(
            lambda: counts() == ("running", 1, 1, 2), 30, what=f"the pod on {b} removed and counted failed"
        )
        assert pod_on(b)["metadata"].get("deletionTimestamp")
        time.sleep(1)  # a later reconcile (pod events) keeps the counts, and FailFast does not fire
        assert counts() == ("running", 1, 1, 2)
    finally:
        for p in job_pods(kubectl, ns, "unfit"):
            kubectl.run(
                "patch",
                "pod",
                p["metadata"]["name"],
                "-n",
                ns,
                "--type=json",
                "-p",
                '[{"op": "remove", "path": "/metadata/finalizers"}]',
                check=False,
            )
    # Gone: as in OpenKruise, which counts the job's existing pods every round, they count no more.
    wait_for(lambda: counts() == ("running", 1, 1, 0), 30, what="the removed pods gone")
    assert {p["spec"]["nodeName"] for p in job_pods(kubectl, ns, "unfit")} == {f"{nodes.tag}-c"}


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda j: j["metadata"].update(name="bad.name"),
            "metadata.name",
            "BroadcastJob name must consist of alphanumeric characters or '-'",
        ),
        (
            lambda j: j["spec"]["template"]["spec"].update(restartPolicy="Always"),
            "spec.template.spec.restartPolicy",
            "pod restartPolicy can only be Never or OnFailure",
        ),
        (
            lambda j: j["spec"].update(completionPolicy={"type": "Never", "ttlSecondsAfterFinished": 5}),
            "spec.completionPolicy",
            "Always",
        ),
        (
            lambda j: (
                j["spec"]["template"]
                .setdefault("metadata", {})
                .setdefault("labels", {})
                .update({"broadcastjob-name": "x"})
            ),
            "spec.template.metadata.labels",
            "broadcastjob-name",
        ),
    ],
)
def test_invalid_jobs_are_rejected_at_admission(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, mutate: Any, field: str, words: str
) -> None:
    obj = job("bad", "none")
    mutate(obj)
    res = kubectl.apply(obj, ns, check=False)
    assert res.returncode != 0 and field in res.stderr and words in res.stderr, res.stderr


def test_the_example_completes_as_written(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "broadcastjob.yaml"
    kubectl("apply", "-n", ns, "-f", str(example))
    wait_for(
        lambda: status(kubectl, ns, "node-check").get("phase") == "completed", 90, what="example completed"
    )
    st = status(kubectl, ns, "node-check")
    assert st["desired"] >= 3 and st["succeeded"] == st["desired"] and st["failed"] == 0
