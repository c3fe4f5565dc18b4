"""Federation: each cluster of a multi-cluster environment gets the east-west objects, in its overlay."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import example_meshes, to_files
from realtools import kustomize_docs
from ruamel.yaml import YAML
from test_istio_support import render_file

from mpc.render.link import link as link_overlays

ACME = next(p for p in example_meshes() if p.parent.name == "acme")
SEED = next(p for p in example_meshes() if p.parent.name == "local-api-gateway")


def _content(artifacts: list[Any], path: str) -> Any:
    return next(a for a in artifacts if a.path == path).content


def test_each_cluster_of_a_federated_environment_gets_the_federation_objects() -> None:
    front, artifacts = render_file(ACME)
    assert front.model.environments["prod"].clusters == ("gke-prod", "do-ams")
    for cluster in ("gke-prod", "do-ams"):
        folder = f"istio/prod/{cluster}"
        kust = _content(artifacts, f"{folder}/kustomization.yaml")
        assert kust["resources"] == ["eastwest-gateway.yaml", "network.yaml"]
        (gateway,) = _content(artifacts, f"{folder}/eastwest-gateway.yaml")
        assert gateway["apiVersion"] == "networking.istio.io/v1"
        assert gateway["metadata"]["namespace"] == "istio-system"
        (server,) = gateway["spec"]["servers"]
        assert server["port"]["number"] == 15443
        assert server["tls"] == {"mode": "AUTO_PASSTHROUGH"}
        assert server["hosts"] == ["*.local"]
        (namespace,) = _content(artifacts, f"{folder}/network.yaml")
        assert namespace["metadata"]["name"] == "istio-system"
        assert namespace["metadata"]["labels"]["topology.istio.io/network"] == f"{cluster}-network"
        # Contributed to that cluster's overlay only.
        listed = next(a for a in artifacts if a.path == f"{folder}/kustomization.yaml").listed_in
        assert tuple(x.kustomization for x in listed) == (f"kustomize/overlays/prod/{cluster}",)


def test_install_files_name_cluster_network_and_shared_mesh() -> None:
    _, artifacts = render_file(ACME)
    yaml = YAML(typ="safe")
    networks = set()
    for cluster in ("gke-prod", "do-ams"):
        text = _content(artifacts, f"istio/prod/{cluster}/install/istiod.yaml")
        assert text.startswith("#")
        doc = yaml.load(text)
        values = doc["spec"]["values"]["global"]
        assert values["meshID"] == "acme"
        assert values["multiCluster"]["clusterName"] == cluster
        networks.add(values["network"])
        assert doc["spec"]["meshConfig"]["trustDomain"] == "cluster.local"
        eastwest = yaml.load(_content(artifacts, f"istio/prod/{cluster}/install/eastwest-gateway.yaml"))
        (gw,) = eastwest["spec"]["components"]["ingressGateways"]
        assert gw["label"]["istio"] == "eastwestgateway"
        assert gw["label"]["topology.istio.io/network"] == values["network"]
        assert {p["port"] for p in gw["k8s"]["service"]["ports"]} >= {15443}
    assert len(networks) == 2  # one network per cluster


def test_single_cluster_environments_get_no_federation() -> None:
    _, artifacts = render_file(ACME)
    assert not [a for a in artifacts if a.path.startswith("istio/staging/do-ams/")]
    _, seed = render_file(SEED)
    folders = {a.path.rsplit("/", 1)[0] for a in seed}
    assert folders == {"istio/default", "istio/default/services"}


def test_policies_are_the_same_for_every_cluster_of_an_environment() -> None:
    """One policy folder per environment, included by each of its overlays: a caller's principal does not
    depend on the cluster it runs in (shared trust domain, same namespace and ServiceAccount)."""
    _, artifacts = render_file(ACME)
    kust = next(a for a in artifacts if a.path == "istio/prod/kustomization.yaml")
    overlays = ("kustomize/overlays/prod/gke-prod", "kustomize/overlays/prod/do-ams")
    assert tuple(x.kustomization for x in kust.listed_in) == overlays
    for art in artifacts:
        if art.path.startswith("istio/prod/services/"):
            assert "gke-prod" not in str(art.content) and "do-ams" not in str(art.content)


def _overlay_stub(path: str) -> Any:
    from mpc.render.api import Artifact

    return Artifact(
        f"{path}/kustomization.yaml",
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": []},
    )


@pytest.mark.slow
def test_kubectl_kustomize_renders_each_overlay_contribution(tmp_path: Path) -> None:
    front, artifacts = render_file(ACME)
    # Stand-in overlays (the kustomize backend's are tested there): linking must add both folders.
    stubs = [_overlay_stub(o.path) for o in front.model.overlays]
    files = to_files(link_overlays([*artifacts, *stubs]))
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    for overlay in front.model.overlays:
        docs: list[Mapping[str, Any]] = kustomize_docs(tmp_path / overlay.path)
        kinds = {d["kind"] for d in docs}
        assert {"AuthorizationPolicy", "PeerAuthentication", "Sidecar", "VirtualService"} <= kinds
        namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
        federated = overlay.environment == "prod"
        assert namespaces == ({overlay.namespace, "istio-system"} if federated else {overlay.namespace})
        gateways = [d for d in docs if d["kind"] == "Gateway"]
        assert len(gateways) == (1 if federated else 0)
