"""Every custom resource gatewayctl writes, checked against its CRD schema (tests/crds/, crd_check.py):
the `kubernetes/` and `kuma/kubernetes/` output of every example catalog and the static `manifests/`.
(The Helm chart's output is checked in test_helm.py.)

kubernetes-validate passes an unknown kind without a word, so anything that is not a custom resource
must be a kind it has a schema for: no custom resource slips through unchecked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_check import check_resource, is_custom_resource
from test_observability import EXAMPLE_NAMES, render_example

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is a test extra")

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("kubernetes", "kuma/kubernetes")


def objects(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or "helm" in path.relative_to(folder).parts:
            continue  # kustomize's own file and the inputs of Helm charts are not objects
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "kind" in doc:
                found.append((str(path.relative_to(folder)), doc))
    return found


def check_all(found: list[tuple[str, dict[str, Any]]]) -> int:
    """Check every custom resource; return how many there were."""
    problems, checked = [], 0
    for where, doc in found:
        if is_custom_resource(doc):
            checked += 1
            problems += [f"{where}: {doc['kind']} {doc['metadata'].get('name')}: {p}" for p in check_resource(doc)]
        else:
            assert_builtin(doc, where)
    assert not problems, "\n".join(problems)
    return checked


def assert_builtin(doc: dict[str, Any], where: str) -> None:
    try:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{where}: {doc['apiVersion']} {doc['kind']} is neither built in nor a CRD in tests/crds/")
    except kubernetes_validate.ValidationError:
        pass  # built in; test_deploy_kubernetes.py reports its problems


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("crs")
    return {n: render_example(n, base / n, ["kuma", "kubernetes"]) for n in EXAMPLE_NAMES}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_rendered_custom_resources_match_their_crds(name: str, rendered: dict[str, Path]) -> None:
    out = rendered[name]
    found = [
        (f"{folder}/{where}", doc)
        for folder in FOLDERS
        if (out / folder).is_dir()
        for where, doc in objects(out / folder)
    ]
    kuma = [d for w, d in found if w.startswith("kuma/")]
    assert check_all(found) >= len(kuma)
    catalog = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    if catalog.get("mesh"):
        assert {d["kind"] for d in kuma} >= {"Mesh", "MeshTrafficPermission"}  # a mesh was rendered and checked


def test_static_manifests_custom_resources_match_their_crds() -> None:
    found = objects(ROOT / "manifests")
    assert found
    check_all(found)


def test_a_broken_rendered_policy_would_fail(rendered: dict[str, Path]) -> None:
    """The check above can fail: the platform's first MeshRetry with a misspelt field does."""
    [(where, retry), *_] = [
        (w, d) for w, d in objects(rendered["platform"] / "kuma/kubernetes") if d["kind"] == "MeshRetry"
    ]
    retry["spec"]["to"][0]["default"]["http"]["numRetry"] = 3
    with pytest.raises(AssertionError, match=r"\.spec\.to\[0\]\.default\.http\.numRetry: unknown field"):
        check_all([(where, retry)])
