"""Advanced StatefulSet lifecycle states during in-place updates, on the real control plane.

The state label `lifecycle.apps.kruise.io/state` moves Normal -> Updating -> Normal (or Updated
with `spec.lifecycle`) as OpenKruise moves it, and the writes per pod are counted in the
apiserver's audit log."""

from __future__ import annotations

import pytest

from .conftest import Kubectl, OperatorProcess, wait_for
from .test_statefulset import asts, pods_of, set_image, wait_rolled_out

STATE = "lifecycle.apps.kruise.io/state"
HOOK = "example.io/hook"


def _state(kubectl: Kubectl, ns: str, set_name: str, pod: str) -> str:
    return str(pods_of(kubectl, ns, set_name)[pod]["metadata"]["labels"].get(STATE, ""))


@pytest.mark.parametrize("parallel", [True, False], ids=["Parallel", "OrderedReady"])
def test_relabelling_the_hook_releases_a_preparing_update_pod(operator: OperatorProcess, kubectl: Kubectl, ns: str,
                                                              parallel: bool) -> None:
    """The pods carry the hook label from the template; the user releases one by setting the label
    to another value (not removing it), and the update goes on."""
    obj = asts("relabel", 2, parallel=parallel)
    obj["spec"]["template"]["metadata"]["labels"][HOOK] = "true"
    obj["spec"]["lifecycle"] = {"inPlaceUpdate": {"labelsHandler": {HOOK: "true"}}}
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "relabel", 2)
    set_image(kubectl, ns, "relabel", "nginx:1.27")
    first = "relabel-1"  # the rollout goes from the highest ordinal down
    wait_for(lambda: _state(kubectl, ns, "relabel", first) == "PreparingUpdate", 60, what=f"{first} PreparingUpdate")
    assert pods_of(kubectl, ns, "relabel")[first]["spec"]["containers"][0]["image"] == "nginx:1.25"
    kubectl("label", "pod", first, "-n", ns, f"{HOOK}=false", "--overwrite")
    wait_for(lambda: pods_of(kubectl, ns, "relabel")[first]["spec"]["containers"][0]["image"] == "nginx:1.27",
             30, what=f"{first} updated in place once its hook label says false")
    # Not all-hooked after the update: it waits in Updated until the hook label is back.
    wait_for(lambda: _state(kubectl, ns, "relabel", first) == "Updated", 60, what=f"{first} Updated")
    kubectl("label", "pod", first, "-n", ns, f"{HOOK}=true", "--overwrite")
    wait_for(lambda: _state(kubectl, ns, "relabel", first) == "Normal", 60, what=f"{first} Normal once hooked again")
    # The next pod is held in turn, and released the same way.
    wait_for(lambda: _state(kubectl, ns, "relabel", "relabel-0") == "PreparingUpdate", 60, what="relabel-0 PreparingUpdate")
    kubectl("label", "pod", "relabel-0", "-n", ns, f"{HOOK}=false", "--overwrite")
    wait_for(lambda: _state(kubectl, ns, "relabel", "relabel-0") == "Updated", 60, what="relabel-0 Updated")
    kubectl("label", "pod", "relabel-0", "-n", ns, f"{HOOK}=true", "--overwrite")
    wait_rolled_out(kubectl, ns, "relabel", 2)
