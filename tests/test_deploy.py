"""The deployment artefacts: Dockerfile, .dockerignore, deploy/ (kustomize) and the Helm chart.

How each is checked, since neither Docker nor Helm runs here:

- kustomize: every directory is built with the real ``kubectl kustomize`` (offline); those tests
  skip, naming the reason, when kubectl is not on PATH.
- Helm: **the chart is rendered by the small Go-template interpreter below** (``GoTemplate``),
  not by helm. It implements the subset of text/template + Sprig that the chart uses, with Helm's
  semantics as far as they matter here: ``{{ }}`` actions with ``{{-``/``-}}`` trimming and
  ``{{/* */}}`` comments; ``.`` / ``$`` / ``$var`` field chains; ``if``/``else if``/``else``,
  ``with``/``else``, ``range`` over lists and maps (sorted keys) with ``$v :=`` or ``$k, $v :=``;
  variable declaration and assignment; ``define``/``include``; and the functions ``toYaml``,
  ``toJson``, ``nindent``, ``indent``, ``quote``, ``default``, ``list``, ``append``, ``printf``
  (%s %v %d), ``join``, ``sha256sum``, ``trunc``, ``trimSuffix``, ``not``, ``and``, ``or``,
  ``gt``, ``int``, ``fail``. Numbers from values files are floats, as in Helm (which decodes
  values through JSON), so ``printf "%d"`` of a value or ``gt`` between a value and a literal
  fail here as they would there. Anything outside the subset raises ``TemplateError``: a chart
  edit that uses another construct fails these tests instead of being rendered wrongly.
  Limits: no ``tpl``, ``template``/``block``, ``lookup``, ``.Capabilities``, ``.Files``,
  subcharts, schema validation or ``helm lint``; YAML quoting of ``toYaml`` output differs from
  Go's in style only (tested by parsing, not by comparing text). Use ``helm template`` and
  ``helm lint`` where helm is installed for the rest.
- Every object built or rendered is checked against the API models of kubernetes_asyncio (each
  field must exist, with the right type): typos in field names fail here, offline.
- Docker: the Dockerfile is read as text (stages, user, entrypoint, what the final stage
  installs); the wheel is built from exactly what the builder stage copies, filtered by
  .dockerignore, then installed with its dependencies (binary wheels only, as in the image) into
  a clean venv, and its ``kspan-py`` is run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kspan_py.controllers import CONTROLLERS
from kspan_py.sources.resources import EVENTS_CORE, EVENTS_V1, OBJECT_RESOURCES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "kspan-py"
KUSTOMIZE_DIRS = (
    "base",
    "overlays/namespaced",
    "overlays/with-collector",
    "overlays/jaeger",
    "collector",
)

requires_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not on PATH: the kustomize builds (`kubectl kustomize`) cannot be checked",
)

# What `kspan-py run` watches (kspan_py/sources/resources.py), as (API group, resource).
WATCHED = {
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "pods"),
    ("", "nodes"),
    ("apps", "replicasets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
}
READ_VERBS = ("get", "list", "watch")
WATCH_PERMISSIONS = {(group, res, verb) for group, res in WATCHED for verb in READ_VERBS}
CLUSTER_UID_PERMISSION = ("", "namespaces/kube-system", "get")  # k8s.cluster.uid
CLUSTER_PERMISSIONS = WATCH_PERMISSIONS | {CLUSTER_UID_PERMISSION}
NAMESPACED_PERMISSIONS = {p for p in WATCH_PERMISSIONS if p[1] != "nodes"}
LEASE_PERMISSIONS = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}

Doc = dict[str, Any]


# ---- kustomize ----------------------------------------------------------------------------------


@cache
def _kustomize(directory: str) -> tuple[Doc, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/{directory}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def kustomize(directory: str) -> list[Doc]:
    return list(_kustomize(directory))


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def source_docs(relative: str) -> list[Doc]:
    """The objects of a YAML file of deploy/ as written (no kubectl needed)."""
    return [doc for doc in yaml.safe_load_all((DEPLOY / relative).read_text()) if doc]


def permissions(role: Doc) -> set[tuple[str, str, str]]:
    """(group, resource, verb) for every grant, ``resource/name`` for a grant on named objects;
    only plain rules are allowed."""
    granted = set()
    for rule in role["rules"]:
        assert set(rule) - {"resourceNames"} == {"apiGroups", "resources", "verbs"}, (
            f"unexpected rule form: {rule}"
        )
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    for name in rule.get("resourceNames") or [None]:
                        granted.add((group, f"{resource}/{name}" if name else resource, verb))
    return granted


def binds(binding: Doc, role: Doc, *, account: str, namespace: str) -> bool:
    return binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    } and binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    ]


# ---- schema check against the API models --------------------------------------------------------


def schema_errors(doc: Doc) -> list[str]:
    """Fields unknown to the Kubernetes API (or of the wrong type), per kubernetes_asyncio."""
    from kubernetes_asyncio.client import models

    version = doc["apiVersion"].rsplit("/", 1)[-1]
    model = getattr(models, version.capitalize() + doc["kind"], None)
    if model is None:
        return [f"no model for {doc['apiVersion']} {doc['kind']}"]
    errors: list[str] = []

    def check(value: Any, type_name: str, path: str) -> None:
        if value is None:
            return
        if type_name.startswith("list["):
            if not isinstance(value, list):
                errors.append(f"{path}: expected a list")
                return
            for index, item in enumerate(value):
                check(item, type_name[5:-1], f"{path}[{index}]")
        elif type_name.startswith("dict("):
            if not isinstance(value, dict):
                errors.append(f"{path}: expected a map")
                return
            for key, item in value.items():
                check(item, type_name.split(",", 1)[1][:-1].strip(), f"{path}.{key}")
        elif type_name in ("str", "datetime"):
            if not isinstance(value, str):
                errors.append(f"{path}: expected a string, got {value!r}")
        elif type_name == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(f"{path}: expected an integer, got {value!r}")
        elif type_name == "bool":
            if not isinstance(value, bool):
                errors.append(f"{path}: expected a boolean, got {value!r}")
        elif type_name == "object":
            pass  # IntOrString and the like
        else:
            cls = getattr(models, type_name)
            if not isinstance(value, dict):
                errors.append(f"{path}: expected an object ({type_name})")
                return
            by_key = {key: attr for attr, key in cls.attribute_map.items()}
            for key, item in value.items():
                if key not in by_key:
                    errors.append(f"{path}.{key}: unknown field of {type_name}")
                else:
                    check(item, cls.openapi_types[by_key[key]], f"{path}.{key}")

    check(doc, model.__name__, f"{doc['kind']}/{doc['metadata'].get('name')}")
    return errors


# ---- the kspan-py Deployment, wherever it comes from --------------------------------------------


def kspan_container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "kspan-py")


def arg_value(args: list[str], flag: str) -> str | None:
    for arg in args:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def effective(pod_spec: Doc, container: Doc, key: str) -> Any:
    """A security setting as it applies to the container (its own, else the Pod's)."""
    own = container.get("securityContext", {}).get(key)
    return own if own is not None else pod_spec.get("securityContext", {}).get(key)


def check_hardened(pod_spec: Doc, container: Doc) -> None:
    where = container["name"]
    security = container.get("securityContext", {})
    assert effective(pod_spec, container, "runAsNonRoot") is True, where
    user = effective(pod_spec, container, "runAsUser")
    assert isinstance(user, int) and user > 0, where
    assert security.get("readOnlyRootFilesystem") is True, where
    assert security.get("allowPrivilegeEscalation") is False, where
    assert security.get("privileged") in (None, False), where
    assert security.get("capabilities", {}).get("drop") == ["ALL"], where
    assert not security.get("capabilities", {}).get("add"), where
    assert effective(pod_spec, container, "seccompProfile") == {"type": "RuntimeDefault"}, where
    assert container["resources"]["requests"] and container["resources"]["limits"], where
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod_spec.get(key), where


def check_kspan_deployment(deployment: Doc) -> None:
    pod = deployment["spec"]["template"]["spec"]
    container = kspan_container(deployment)
    check_hardened(pod, container)
    assert effective(pod, container, "runAsUser") == 65532
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    # Probes on the metrics port.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    assert ports["metrics"] == int(arg_value(args, "--metrics-port") or 0)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # The checkpoint's directory is a volume (the root filesystem is read-only), and so is /tmp.
    state_file = arg_value(args, "--state-file")
    assert state_file, args
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for directory in (str(Path(state_file).parent), "/tmp"):
        assert directory in mounts, f"{directory} is not mounted"
        assert "emptyDir" in volumes[mounts[directory]]
    # Leader election: the identity and namespace come from the downward API.
    env = {e["name"]: e for e in container["env"]}
    if "--leader-elect" in args:
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["POD_NAMESPACE"]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.namespace"}
        }
    else:
        assert deployment["spec"]["replicas"] == 1
    assert arg_value(args, "--exporter") == "otlp"
    assert arg_value(args, "--log-format") == "json"
    assert pod["serviceAccountName"]
    assert pod.get("automountServiceAccountToken") is not False  # it talks to the API server


def check_services(docs: list[Doc]) -> None:
    """Every Service selects Pods of a Deployment here, on ports those Pods declare."""
    deployments = find(docs, "Deployment")
    for service in find(docs, "Service"):
        selector = service["spec"]["selector"]
        targets = [
            d
            for d in deployments
            if d["metadata"]["namespace"] == service["metadata"]["namespace"]
            and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        name = service["metadata"]["name"]
        assert len(targets) == 1, f"Service {name} selects {len(targets)} Deployments"
        declared = {
            port["name"]: port["containerPort"]
            for container in targets[0]["spec"]["template"]["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in declared or target in declared.values(), f"{name}: {port}"


def resolve_service(docs: list[Doc], endpoint: str) -> Doc:
    """The Service that an endpoint such as http://name.namespace.svc:4317 reaches."""
    match = re.fullmatch(
        r"(?:https?://)?([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.[a-z.]+)?:(\d+)", endpoint
    )
    assert match, endpoint
    name, namespace, port = match.groups()
    service = one(docs, "Service", name)
    assert service["metadata"]["namespace"] == namespace
    assert int(port) in [p["port"] for p in service["spec"]["ports"]], endpoint
    return service


# ---- the kustomize builds -----------------------------------------------------------------------


@requires_kubectl
@pytest.mark.parametrize("directory", KUSTOMIZE_DIRS)
def test_kustomize_builds_to_valid_objects(directory: str) -> None:
    docs = kustomize(directory)
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys)), "duplicate objects"
    for doc in docs:
        assert not schema_errors(doc), schema_errors(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kspan-py"
    kspan = one(docs, "Deployment", "kspan-py")
    assert kspan["metadata"]["labels"]["app.kubernetes.io/name"] == "kspan-py"
    check_kspan_deployment(kspan)
    for deployment in find(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            check_hardened(pod, container)
    check_services(docs)
    # Outside its own namespace kspan-py only has Roles (in the watched namespaces).
    elsewhere = [d for d in docs if d["metadata"].get("namespace") not in (None, "kspan")]
    assert all(d["kind"] in ("Role", "RoleBinding") for d in elsewhere)


def test_rbac_lists_what_kspan_watches() -> None:
    watched = {(r.group, r.plural) for r in (EVENTS_V1, EVENTS_CORE, *OBJECT_RESOURCES)}
    assert watched == WATCHED
    # Each controller's registration is what every RBAC form grants on its collections.
    registered = {
        (r.group, r.plural, verb)
        for controller in CONTROLLERS
        for r in controller.watches
        for verb in controller.verbs
    }
    assert registered <= CLUSTER_PERMISSIONS
    assert {(g, r, v) for g, r, v in registered if r != "nodes"} <= NAMESPACED_PERMISSIONS
    namespaced = {(r.group, r.plural) for r in (EVENTS_V1, EVENTS_CORE, *OBJECT_RESOURCES)}
    namespaced -= {(r.group, r.plural) for r in OBJECT_RESOURCES if not r.namespaced}
    assert {(g, r) for g, r, _ in NAMESPACED_PERMISSIONS} == namespaced


@requires_kubectl
def test_base_rbac_is_read_only_on_exactly_the_watched_resources() -> None:
    docs = kustomize("base")
    cluster_role = one(docs, "ClusterRole")
    assert permissions(cluster_role) == CLUSTER_PERMISSIONS
    assert binds(
        one(docs, "ClusterRoleBinding"), cluster_role, account="kspan-py", namespace="kspan"
    )
    lease_role = one(docs, "Role")
    assert lease_role["metadata"]["namespace"] == "kspan"
    assert permissions(lease_role) == LEASE_PERMISSIONS
    binding = one(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "kspan"
    assert binds(binding, lease_role, account="kspan-py", namespace="kspan")
    assert one(docs, "ServiceAccount")["metadata"] == {
        "name": "kspan-py",
        "namespace": "kspan",
        "labels": {"app.kubernetes.io/name": "kspan-py", "app.kubernetes.io/part-of": "kspan-py"},
    }
    namespace = one(docs, "Namespace")["metadata"]
    assert namespace["name"] == "kspan"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@requires_kubectl
def test_base_deployment_and_metrics_service() -> None:
    docs = kustomize("base")
    deployment = one(docs, "Deployment", "kspan-py")
    assert deployment["metadata"]["namespace"] == "kspan"
    assert deployment["spec"]["replicas"] == 2
    container = kspan_container(deployment)
    assert container["image"] == "ghcr.io/kspan-py/kspan-py:0.1.0"
    assert container["args"] == [
        "--exporter=otlp",
        "--state-file=/var/lib/kspan-py/state.json",
        "--metrics-port=9090",
        "--leader-elect",
        "--log-format=json",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.kspan.svc:4317"
    assert env["OTEL_EXPORTER_OTLP_INSECURE"]["value"] == "true"
    config_ref = env["KSPAN_CLUSTER_NAME"]["valueFrom"]["configMapKeyRef"]
    config_map = one(docs, "ConfigMap", config_ref["name"])  # the generated (hashed) name
    assert config_ref["key"] in config_map["data"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "kspan-py"
    service = one(docs, "Service", "kspan-py-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": "metrics"}
    ]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9090"
    assert annotations["prometheus.io/path"] == "/metrics"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "kspan-py"}


@requires_kubectl
def test_namespaced_overlay_has_no_cluster_access() -> None:
    docs = kustomize("overlays/namespaced")
    assert not find(docs, "ClusterRole")
    assert not find(docs, "ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in find(docs, "Role", "kspan-py")}
    assert set(roles) == {"shop", "payments"}
    for namespace, role in roles.items():
        assert permissions(role) == NAMESPACED_PERMISSIONS, namespace
        binding = next(
            b
            for b in find(docs, "RoleBinding", "kspan-py")
            if b["metadata"]["namespace"] == namespace
        )
        assert binds(binding, role, account="kspan-py", namespace="kspan")
    assert permissions(one(docs, "Role", "kspan-py-leader-election")) == LEASE_PERMISSIONS
    args = kspan_container(one(docs, "Deployment", "kspan-py"))["args"]
    assert [a for a in args if a.startswith("--namespace=")] == [
        "--namespace=shop",
        "--namespace=payments",
    ]
    assert not any(a.startswith("--kinds") for a in args)  # Nodes would need a ClusterRole


@requires_kubectl
def test_with_collector_overlay() -> None:
    docs = kustomize("overlays/with-collector")
    kspan = kspan_container(one(docs, "Deployment", "kspan-py"))
    endpoint = next(e["value"] for e in kspan["env"] if e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT")
    assert resolve_service(docs, endpoint)["metadata"]["name"] == "otel-collector"
    collector = one(docs, "Deployment", "otel-collector")
    assert collector["metadata"]["namespace"] == "kspan"
    pod = collector["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "otel/opentelemetry-collector-contrib:0.115.0"
    # The config file the collector is told to read is in the (generated) ConfigMap.
    config_path = Path(arg_value(container["args"], "--config") or "")
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = one(docs, "ConfigMap", volume["configMap"]["name"])
    config = yaml.safe_load(config_map["data"][config_path.name])
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert "batch" in config["processors"]
    (exporter,) = config["exporters"].values()
    assert exporter == {"endpoint": "jaeger-collector.kspan.svc:4317", "tls": {"insecure": True}}
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert "batch" in pipeline["processors"]
    assert set(pipeline["processors"]) <= set(config["processors"])
    assert pipeline["exporters"] == list(config["exporters"])
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    # ${env:X} in the config are set in the container.
    env = {e["name"] for e in container.get("env", [])}
    assert set(re.findall(r"\$\{env:(\w+)\}", config_map["data"][config_path.name])) <= env
    ports = {p["port"] for p in one(docs, "Service", "otel-collector")["spec"]["ports"]}
    assert ports == {4317, 4318}


@requires_kubectl
def test_jaeger_overlay() -> None:
    docs = kustomize("overlays/jaeger")
    assert {d["metadata"]["name"] for d in find(docs, "Deployment")} == {
        "kspan-py",
        "otel-collector",
        "jaeger",
    }
    container = one(docs, "Deployment", "jaeger")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "jaegertracing/all-in-one:1.62.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["COLLECTOR_OTLP_ENABLED"] == "true"
    assert resolve_service(docs, "jaeger-collector.kspan.svc:4317")
    assert resolve_service(docs, "jaeger-query.kspan.svc:16686")
    # The collector's exporter reaches Jaeger.
    config_map = next(
        c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("otel-collector")
    )
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    for exporter in config["exporters"].values():
        assert resolve_service(docs, exporter["endpoint"])["metadata"]["name"] == "jaeger-collector"


# ---- the flags the manifests pass exist ---------------------------------------------------------


@cache
def cli_help(*command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kspan_py.cli", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def undefined_flags(args: list[str], help_text: str) -> set[str]:
    flags = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
    return {f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", help_text)}


def test_manifest_flags_exist_in_run_help() -> None:
    """The image runs `kspan-py run ARGS`: every flag in ARGS must be one of run's."""
    run_help, top_help = cli_help("run"), cli_help()
    sources: dict[str, Doc] = {
        "deploy/base/deployment.yaml": one(source_docs("base/deployment.yaml"), "Deployment")
    }
    for values in ({}, {"namespaces": ["shop"], "clusterName": "prod", "logs": True}):
        rendered = render_chart(values)
        sources[f"helm chart with {values or 'default values'}"] = one(rendered, "Deployment")
    if shutil.which("kubectl"):
        for directory in KUSTOMIZE_DIRS:
            sources[f"deploy/{directory}"] = one(kustomize(directory), "Deployment", "kspan-py")
    problems: dict[str, list[str]] = {}
    for where, deployment in sources.items():
        container = kspan_container(deployment)
        for flag in undefined_flags(container["args"], run_help):
            hint = (
                " (only an option of `kspan-py` itself, before `run`: `kspan-py run "
                f"{flag}=...` exits with 'unrecognized arguments')"
                if not undefined_flags([flag], top_help)
                else ""
            )
            problems.setdefault(flag + hint, []).append(where)
        # KSPAN_X is read as the flag --x (kspan_py/cli.py), of run or of kspan-py itself.
        for env in container["env"]:
            flag = "--" + env["name"].removeprefix("KSPAN_").lower().replace("_", "-")
            if env["name"].startswith("KSPAN_") and undefined_flags([flag], run_help + top_help):
                problems.setdefault(f"{env['name']} (no {flag})", []).append(where)
    assert not problems, "flags the manifests pass that `kspan-py run --help` lacks:\n" + "\n".join(
        f"{flag}\n    in {', '.join(places)}" for flag, places in sorted(problems.items())
    )


# ---- the Helm chart, rendered by GoTemplate -----------------------------------------------------


class TemplateError(Exception):
    """A template outside the supported subset, or an error Helm would report too."""


class ChartFailure(TemplateError):
    """The chart's own `fail`."""


_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<op>:=|=|\||\(|\)|,)
      | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<word>[$.\w]+)
    )""",
    re.VERBOSE,
)
_WHITESPACE = " \t\r\n"
Node = tuple[Any, ...]


def _truth(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _go_float(value: float) -> str:
    """fmt's %v of a float64: shortest digits, exponent form from 1e+06 up or below 1e-04."""
    if value == 0:
        return "0"
    number = Decimal(repr(value))
    exponent = number.adjusted()
    if -4 <= exponent < 6:
        text = format(number, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    digits = number.as_tuple().digits
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])).rstrip("0") or "")
    mantissa = mantissa.rstrip(".")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def _text(value: Any) -> str:
    """How an action prints a value (Helm prints a missing value as nothing)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    """A value as Go's YAML/JSON encoders write it: integral floats as integers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def helm_numbers(value: Any) -> Any:
    """Values as Helm holds them: it decodes them through JSON, so every number is a float64."""
    if isinstance(value, dict):
        return {k: helm_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [helm_numbers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _printf(form: str, *args: Any) -> str:
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%"
        value = next(values)
        kind = match.group()[1]
        if kind == "s" and not isinstance(value, str):
            raise TemplateError(f"printf %s of {value!r} (Go prints %!s(...))")
        if kind == "d" and (not isinstance(value, int) or isinstance(value, bool)):
            raise TemplateError(f"printf %d of {value!r} (Go prints %!d(...))")
        return _text(value)

    return re.sub(r"%[svd%]", verb, form)


def _compare(a: Any, b: Any) -> tuple[Any, Any]:
    basic = (int, float, str)
    if type(a) is not type(b) or type(a) not in basic:
        raise TemplateError(f"incompatible types for comparison: {a!r}, {b!r}")
    return a, b


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value) if value.strip() else 0
    return int(value or 0)


def _to_yaml(value: Any) -> str:
    if not isinstance(value, dict | list):
        return json.dumps(_plain(value))
    dumped = yaml.safe_dump(_plain(value), default_flow_style=False, sort_keys=True, width=10**6)
    return dumped.removesuffix("\n")


def _indent(width: int, text: str) -> str:
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


class GoTemplate:
    """text/template + the Sprig/Helm functions the chart uses; see the module docstring."""

    def __init__(self) -> None:
        self.defines: dict[str, list[Node]] = {}
        self.functions: dict[str, Callable[..., Any]] = {
            "include": self.include,
            "toYaml": _to_yaml,
            "toJson": lambda v: json.dumps(_plain(v), sort_keys=True, separators=(",", ":")),
            "nindent": lambda n, s: "\n" + _indent(n, s),
            "indent": _indent,
            "quote": lambda *vs: " ".join(
                json.dumps(_text(v), ensure_ascii=False) for v in vs if v is not None
            ),
            "default": lambda d, *v: v[0] if v and _truth(v[0]) else d,
            "list": lambda *vs: list(vs),
            "append": lambda seq, v: [*seq, v],
            "printf": _printf,
            "join": lambda sep, seq: sep.join(_text(v) for v in seq),
            "sha256sum": lambda s: hashlib.sha256(s.encode()).hexdigest(),
            "trunc": lambda n, s: s[:n] if n >= 0 else s[n:],
            "trimSuffix": lambda suffix, s: s.removesuffix(suffix),
            "not": lambda v: not _truth(v),
            "and": lambda *vs: next((v for v in vs if not _truth(v)), vs[-1]),
            "or": lambda *vs: next((v for v in vs if _truth(v)), vs[-1]),
            "gt": lambda a, b: _compare(a, b)[0] > _compare(a, b)[1],
            "int": _to_int,
            "fail": self._fail,
        }
        self.files: dict[str, list[Node]] = {}

    @staticmethod
    def _fail(message: str) -> None:
        raise ChartFailure(message)

    # -- parsing --

    def add(self, name: str, source: str) -> None:
        items = self._lex(source)
        nodes, index, stop = self._parse(items, 0, ())
        assert stop is None and index == len(items)
        self.files[name] = nodes

    @staticmethod
    def _lex(source: str) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        position, trim_next = 0, False
        for match in _ACTION.finditer(source):
            text = source[position : match.start()]
            if trim_next:
                text = text.lstrip(_WHITESPACE)
            if match.group(1):
                text = text.rstrip(_WHITESPACE)
            items.append(("text", text))
            body = match.group(2).strip()
            if not (body.startswith("/*") and body.endswith("*/")):
                items.append(("action", body))
            trim_next = bool(match.group(3))
            position = match.end()
        text = source[position:]
        items.append(("text", text.lstrip(_WHITESPACE) if trim_next else text))
        return [item for item in items if item != ("text", "")]

    def _parse(
        self, items: list[tuple[str, str]], index: int, stops: tuple[str, ...]
    ) -> tuple[list[Node], int, tuple[str, str] | None]:
        nodes: list[Node] = []
        while index < len(items):
            kind, value = items[index]
            index += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            word, _, rest = value.partition(" ")
            rest = rest.strip()
            if word in ("end", "else"):
                if word not in stops:
                    raise TemplateError(f"unexpected {{{{{value}}}}}")
                return nodes, index, (word, rest)
            if word in ("if", "with", "range"):
                node, index = self._block(word, rest, items, index)
                nodes.append(node)
            elif word == "define":
                body, index, _ = self._parse(items, index, ("end",))
                self.defines[json.loads(rest)] = body
            elif word in ("template", "block", "break", "continue"):
                raise TemplateError(f"unsupported action {{{{{value}}}}}")
            else:
                nodes.append(("action", self._pipeline(value)))
        if stops:
            raise TemplateError(f"missing {{{{end}}}} (expected one of {stops})")
        return nodes, index, None

    def _block(
        self, word: str, rest: str, items: list[tuple[str, str]], index: int
    ) -> tuple[Node, int]:
        body, index, stop = self._parse(items, index, ("end", "else"))
        alternative: list[Node] = []
        if stop is not None and stop[0] == "else":
            if stop[1]:  # else if ... / else with ...: shares this block's end
                sub_word, _, sub_rest = stop[1].partition(" ")
                node, index = self._block(sub_word, sub_rest.strip(), items, index)
                alternative = [node]
            else:
                alternative, index, _ = self._parse(items, index, ("end",))
        return (word, self._pipeline(rest), body, alternative), index

    def _pipeline(self, text: str) -> Node:
        tokens = self._tokens(text)
        pipeline, position = self._parse_pipeline(tokens, 0)
        if position != len(tokens):
            raise TemplateError(f"cannot parse {text!r}")
        return pipeline

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, Any]]:
        tokens: list[tuple[str, Any]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise TemplateError(f"cannot read {text[position:]!r}")
            position = match.end()
            kind = match.lastgroup
            value = match.group(kind or "")
            if kind == "str":
                tokens.append(("lit", json.loads(value)))
            elif kind == "raw":
                tokens.append(("lit", value[1:-1]))
            elif kind == "num":
                tokens.append(("lit", float(value) if "." in value else int(value)))
            else:
                tokens.append((kind or "", value))
        return tokens

    def _parse_pipeline(self, tokens: list[tuple[str, Any]], position: int) -> tuple[Node, int]:
        declared: list[str] = []
        assign = ""
        # $a := ..., $a, $b := ..., $a = ...
        probe = position
        names = []
        while probe < len(tokens) and tokens[probe][0] == "word" and tokens[probe][1][0] == "$":
            names.append(tokens[probe][1])
            probe += 1
            if probe < len(tokens) and tokens[probe] == ("op", ","):
                probe += 1
                continue
            break
        if names and probe < len(tokens) and tokens[probe] in (("op", ":="), ("op", "=")):
            declared, assign, position = names, tokens[probe][1], probe + 1
        commands: list[list[Node]] = [[]]
        while position < len(tokens):
            kind, value = tokens[position]
            if (kind, value) == ("op", ")"):
                break
            position += 1
            if (kind, value) == ("op", "|"):
                commands.append([])
            elif (kind, value) == ("op", "("):
                inner, position = self._parse_pipeline(tokens, position)
                if tokens[position : position + 1] != [("op", ")")]:
                    raise TemplateError("unclosed (")
                position += 1
                commands[-1].append(("pipe", inner))
            elif kind in ("lit", "word"):
                commands[-1].append((kind, value))
            else:
                raise TemplateError(f"unexpected {value!r}")
        if any(not command for command in commands):
            raise TemplateError("empty command in pipeline")
        return ("pipeline", declared, assign, commands), position

    # -- execution --

    def render(self, name: str, dot: Any) -> str:
        out: list[str] = []
        self._run(self.files[name], dot, [{"$": dot}], out)
        return "".join(out)

    def include(self, name: str, dot: Any) -> str:
        if name not in self.defines:
            raise TemplateError(f"no template {name!r}")
        out: list[str] = []
        self._run(self.defines[name], dot, [{"$": dot}], out)
        return "".join(out)

    def _run(
        self, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]], out: list[str]
    ) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                value = self._eval_pipeline(node[1], dot, scopes)
                if not node[1][1]:  # declarations and assignments print nothing
                    out.append(_text(value))
            else:
                self._control(node, dot, scopes, out)

    def _control(self, node: Node, dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
        kind, pipeline, body, alternative = node
        _, declared, _, commands = pipeline
        value = self._eval_pipeline(("pipeline", [], "", commands), dot, scopes)
        if kind == "range":
            if isinstance(value, dict):
                pairs: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list):
                pairs = list(enumerate(value))
            elif value is None:
                pairs = []
            else:
                raise TemplateError(f"range over {value!r}")
            for key, item in pairs:
                scope: dict[str, Any] = {}
                if len(declared) == 1:
                    scope[declared[0]] = item
                elif len(declared) == 2:
                    scope[declared[0]], scope[declared[1]] = key, item
                self._run(body, item, [*scopes, scope], out)
            if not pairs:
                self._run(alternative, dot, [*scopes, {}], out)
            return
        if declared:
            raise TemplateError(f"variables in {{{{{kind}}}}} are not supported here")
        if _truth(value):
            self._run(body, value if kind == "with" else dot, [*scopes, {}], out)
        else:
            self._run(alternative, dot, [*scopes, {}], out)

    def _eval_pipeline(self, pipeline: Node, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        _, declared, assign, commands = pipeline
        value: Any = None
        for index, command in enumerate(commands):
            value = self._eval_command(command, dot, scopes, value if index else _NOTHING)
        if assign == ":=":
            scopes[-1][declared[0]] = value
        elif assign == "=":
            for scope in reversed(scopes):
                if declared[0] in scope:
                    scope[declared[0]] = value
                    break
            else:
                raise TemplateError(f"undefined variable {declared[0]}")
        return value

    def _eval_command(
        self, command: list[Node], dot: Any, scopes: list[dict[str, Any]], piped: Any
    ) -> Any:
        head = command[0]
        if head[0] == "word" and head[1][0] not in "$." and head[1] not in _CONSTANTS:
            function = self.functions.get(head[1])
            if function is None:
                raise TemplateError(f"function {head[1]!r} not defined")
            args = [self._eval_operand(op, dot, scopes) for op in command[1:]]
            if piped is not _NOTHING:
                args.append(piped)
            return function(*args)
        if len(command) > 1 or piped is not _NOTHING:
            raise TemplateError(f"can't give argument to non-function {head[1]!r}")
        return self._eval_operand(head, dot, scopes)

    def _eval_operand(self, operand: Node, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        kind, value = operand
        if kind == "lit":
            return value
        if kind == "pipe":
            return self._eval_pipeline(value, dot, scopes)
        if value in _CONSTANTS:
            return _CONSTANTS[value]
        if value[0] == "$":
            name, *fields = value.split(".")
            for scope in reversed(scopes):
                if name in scope:
                    current = scope[name]
                    break
            else:
                raise TemplateError(f"undefined variable {name}")
        elif value[0] == ".":
            current, fields = dot, [f for f in value[1:].split(".") if f] if value != "." else []
        else:
            raise TemplateError(f"{value!r} is not a value")
        for field in fields:
            if current is None:
                raise TemplateError(f"nil pointer evaluating interface {{}}.{field}")
            if not isinstance(current, dict):
                raise TemplateError(f"can't evaluate field {field} in {current!r}")
            current = current.get(field)
        return current


_NOTHING = object()
_CONSTANTS = {"true": True, "false": False, "nil": None}


def coalesce(defaults: Any, overrides: Any) -> Any:
    """Helm's merge of values: maps merge key by key, anything else is replaced."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        merged = dict(defaults)
        for key, value in overrides.items():
            merged[key] = coalesce(defaults.get(key), value) if key in defaults else value
        return merged
    return overrides


def render_chart(
    overrides: dict[str, Any] | None = None, *, release: str = "kspan-py", namespace: str = "kspan"
) -> list[Doc]:
    """What `helm template RELEASE deploy/helm/kspan-py -n NAMESPACE -f OVERRIDES` gives."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = coalesce(
        helm_numbers(yaml.safe_load((CHART / "values.yaml").read_text())),
        helm_numbers(overrides or {}),
    )
    top = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {key[0].upper() + key[1:]: value for key, value in chart.items()},
    }
    engine = GoTemplate()
    templates = sorted((CHART / "templates").iterdir())
    for path in templates:
        engine.add(path.name, path.read_text())
    docs: list[Doc] = []
    for path in templates:
        if path.name.startswith("_") or path.suffix not in (".yaml", ".yml"):
            continue
        text = engine.render(path.name, top)
        try:
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
        except yaml.YAMLError as error:
            raise AssertionError(f"{path.name} rendered invalid YAML:\n{text}\n{error}") from None
    return docs


def test_go_template_subset_follows_go_semantics() -> None:
    engine = GoTemplate()
    source = (
        'a:{{- " b" }} {{ .x -}}\n  c\n'
        "{{- range $k, $v := .m }}\n{{ $k }}={{ $v }}{{ end }}\n"
        "{{ if .no }}1{{ else if .x }}2{{ else }}3{{ end }}\n"
        '{{ $l := list }}{{ range .m }}{{ $l = append $l . }}{{ end }}{{ join "," $l }}\n'
        "{{ .missing }}|{{ with .m }}{{ .b }}{{ end }}|{{ 1000000.0 }}|{{ 2.0 }}|{{ 0.5 }}\n"
        "{{/* a comment */}}{{ toYaml .m | nindent 2 }}\n"
        '{{ define "t" }}<{{ . }}>{{ end }}{{ include "t" .x | quote }}'
    )
    engine.add("t", source)
    rendered = engine.render("t", {"x": "X", "m": {"b": 2.0, "a": "A"}})
    assert rendered == ('a: b Xc\na=A\nb=2\n2\nA,2\n|2|1e+06|2|0.5\n\n  a: A\n  b: 2\n"<X>"')
    for bad, error in (
        ("{{ .a.b }}", "nil pointer"),
        ("{{ tpl .x . }}", "not defined"),
        ('{{ printf "%d" .n }}', "%d"),
        ("{{ gt .n 1 }}", "incompatible"),
        ('{{ template "x" }}', "unsupported"),
        ("{{ if .x }}", "missing"),
        ('{{ fail "no" }}', "no"),
    ):
        with pytest.raises(TemplateError, match=error):
            engine.add("bad", bad)
            engine.render("bad", {"n": 1.0, "x": 1})


def chart_deployment(docs: list[Doc]) -> Doc:
    return one(docs, "Deployment", "kspan-py")


def test_chart_default_values_match_the_kustomize_base() -> None:
    docs = render_chart()
    for doc in docs:
        assert not schema_errors(doc), schema_errors(doc)
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "kspan", doc["metadata"]
    assert sorted(d["kind"] for d in docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    base_rbac = source_docs("base/rbac.yaml") + source_docs("base/leader-election.yaml")
    cluster_role = one(docs, "ClusterRole")
    assert permissions(cluster_role) == CLUSTER_PERMISSIONS
    assert permissions(cluster_role) == permissions(one(base_rbac, "ClusterRole"))
    assert binds(
        one(docs, "ClusterRoleBinding"), cluster_role, account="kspan-py", namespace="kspan"
    )
    lease_role = one(docs, "Role")
    assert permissions(lease_role) == permissions(one(base_rbac, "Role")) == LEASE_PERMISSIONS
    assert binds(one(docs, "RoleBinding"), lease_role, account="kspan-py", namespace="kspan")

    deployment = chart_deployment(docs)
    check_kspan_deployment(deployment)
    check_services(docs)
    base = one(source_docs("base/deployment.yaml"), "Deployment")
    container, base_container = kspan_container(deployment), kspan_container(base)
    assert deployment["spec"]["replicas"] == base["spec"]["replicas"] == 2
    for key in ("image", "args", "ports", "livenessProbe", "readinessProbe", "resources"):
        assert container[key] == base_container[key], key
    assert container["securityContext"] == base_container["securityContext"]
    pod, base_pod = deployment["spec"]["template"]["spec"], base["spec"]["template"]["spec"]
    assert pod["securityContext"] == base_pod["securityContext"]
    assert pod["volumes"] == base_pod["volumes"]
    assert container["volumeMounts"] == base_container["volumeMounts"]
    base_env = {e["name"]: e for e in base_container["env"]}
    env = {e["name"]: e for e in container["env"]}
    assert set(base_env) - set(env) == {"KSPAN_CLUSTER_NAME"}  # clusterName is empty by default
    assert set(env) <= set(base_env)
    for name, value in env.items():
        assert value == base_env[name], name
    service = one(docs, "Service")
    base_service = one(source_docs("base/service.yaml"), "Service")
    assert service["metadata"]["name"] == base_service["metadata"]["name"]
    assert service["metadata"]["annotations"] == base_service["metadata"]["annotations"]
    assert service["spec"]["ports"] == base_service["spec"]["ports"]


def test_chart_with_namespaces_matches_the_namespaced_overlay() -> None:
    docs = render_chart({"namespaces": ["shop"]})
    for doc in docs:
        assert not schema_errors(doc), schema_errors(doc)
    assert not find(docs, "ClusterRole")
    assert not find(docs, "ClusterRoleBinding")
    role = one(docs, "Role", "kspan-py")
    assert role["metadata"]["namespace"] == "shop"
    for overlay_role in find(source_docs("overlays/namespaced/rbac.yaml"), "Role"):
        assert permissions(role) == permissions(overlay_role) == NAMESPACED_PERMISSIONS
    binding = one(docs, "RoleBinding", "kspan-py")
    assert binding["metadata"]["namespace"] == "shop"
    assert binds(binding, role, account="kspan-py", namespace="kspan")
    assert permissions(one(docs, "Role", "kspan-py-leader-election")) == LEASE_PERMISSIONS
    args = kspan_container(chart_deployment(docs))["args"]
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=shop"]

    two = render_chart({"namespaces": ["shop", "payments"]}, release="tracer", namespace="obs")
    roles = {r["metadata"]["namespace"]: r for r in find(two, "Role", "tracer")}
    assert set(roles) == {"shop", "payments"}
    for binding in find(two, "RoleBinding", "tracer"):
        assert binds(
            binding, roles[binding["metadata"]["namespace"]], account="tracer", namespace="obs"
        )


def test_chart_values() -> None:
    docs = render_chart(
        {
            "image": {"tag": "0.2.0", "pullPolicy": "Always"},
            "replicas": 3,
            "clusterName": "prod-eu",
            "metricsPort": 9100,
            "otlp": {
                "endpoint": "https://otlp.example:4317",
                "insecure": False,
                "headers": {"x-tenant": "t1", "authorization": "Bearer abc"},
            },
            "extraArgs": ["--window=10s"],
            "extraEnv": [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "env=prod"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {}},
            "podAnnotations": {"team": "platform"},
        }
    )
    for doc in docs:
        assert not schema_errors(doc), schema_errors(doc)
    deployment = chart_deployment(docs)
    pod = deployment["spec"]["template"]["spec"]
    container = kspan_container(deployment)
    assert deployment["spec"]["replicas"] == 3
    assert container["image"] == "ghcr.io/kspan-py/kspan-py:0.2.0"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][-1] == "--window=10s"
    assert "--metrics-port=9100" in container["args"]
    assert container["ports"][0]["containerPort"] == 9100
    env = {e["name"]: e for e in container["env"]}
    assert env["KSPAN_CLUSTER_NAME"]["value"] == "prod-eu"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "https://otlp.example:4317"
    assert env["OTEL_EXPORTER_OTLP_INSECURE"]["value"] == "false"
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == "env=prod"
    secret = one(docs, "Secret")
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "OTEL_EXPORTER_OTLP_HEADERS",
    }
    headers = secret["stringData"]["OTEL_EXPORTER_OTLP_HEADERS"]
    assert headers == "authorization=Bearer abc,x-tenant=t1"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "platform"
    assert len(annotations["checksum/otlp-headers"]) == 64
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "infra"
    assert pod["affinity"] == {"nodeAffinity": {}}
    service = one(docs, "Service")
    assert service["spec"]["ports"][0]["port"] == 9100
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    check_kspan_deployment(deployment)

    # An existing Secret instead of the chart's.
    docs = render_chart({"otlp": {"existingSecret": "vendor-otlp", "headers": {"a": "b"}}})
    assert not find(docs, "Secret")
    env = {e["name"]: e for e in kspan_container(chart_deployment(docs))["env"]}
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"]["name"] == "vendor-otlp"

    # Without leader election: one replica, no Lease access.
    docs = render_chart({"leaderElect": False, "replicas": 1})
    assert not find(docs, "Role")
    assert "--leader-elect" not in kspan_container(chart_deployment(docs))["args"]
    check_kspan_deployment(chart_deployment(docs))
    with pytest.raises(ChartFailure, match="leaderElect"):
        render_chart({"leaderElect": False, "replicas": 2})


# ---- Dockerfile and .dockerignore ---------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (keyword, arguments), one list per stage."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: list[list[tuple[str, str]]] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        assert stages, f"{line!r} before FROM"
        stages[-1].append((keyword.upper(), " ".join(arguments.split())))
    return stages


def test_dockerfile() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2, "builder + final"
    builder, final = stages
    assert re.fullmatch(r"python:3\.12-slim AS builder", builder[0][1], re.IGNORECASE)
    assert final[0][1] == "python:3.12-slim"
    assert any("pip wheel --no-deps" in args for kw, args in builder if kw == "RUN")

    final_runs = " ".join(args for kw, args in final if kw == "RUN")
    for tool in ("build-essential", "gcc", "g++", "clang", "make", "python3-dev", "apt-get"):
        assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", final_runs), tool
    assert "--only-binary=:all:" in final_runs  # nothing compiled, no compiler needed
    assert re.search(r"pip install .*/tmp/dist/\*\.whl", final_runs)
    copies = [args for kw, args in final if kw == "COPY"]
    assert copies == ["--from=builder /dist/ /tmp/dist/"]  # the wheel only, not the sources

    users = [args for kw, args in final if kw == "USER"]
    assert users and users[-1].split(":")[0] == "65532"
    assert f"--uid {users[-1].split(':')[0]}" in final_runs
    entrypoints = [args for kw, args in final if kw == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == ["kspan-py", "run"]
    env = " ".join(args for kw, args in final if kw == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env.split(), setting
    path = re.search(r"PATH=(\S+)", env)
    assert path and path.group(1).split(":")[0] == "/opt/kspan-py/bin"  # the venv's kspan-py
    workdir = [args for kw, args in final if kw == "WORKDIR"][-1]
    assert f"-o 65532 -g 65532 -m 0750 {workdir}" in final_runs  # writable by the user only
    # The manifests' checkpoint directory is the image's writable WORKDIR.
    base_args = kspan_container(one(source_docs("base/deployment.yaml"), "Deployment"))["args"]
    assert str(Path(arg_value(base_args, "--state-file") or "").parent) == workdir


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(exclude?, pattern) from .dockerignore, in order; the last matching rule wins."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^]]*\])", pattern):
            if part == "**/":
                regex += "(?:.*/)?"
            elif part == "**":
                regex += ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            elif part.startswith("["):
                regex += part
            else:
                regex += re.escape(part)
        rules.append((not include, re.compile(regex)))
    return rules


def dockerignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: a pattern matching a path or one of its parent directories decides."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exclude, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = exclude
    return excluded


def test_dockerignore_keeps_the_build_inputs_only() -> None:
    rules = dockerignore_rules()
    for path in (
        "pyproject.toml",
        "README.md",
        "kspan_py/cli.py",
        "kspan_py/demo/rolling-update.jsonl",
        "kspan_py/py.typed",
    ):
        assert not dockerignored(path, rules), path
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_deploy.py",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/cache.db",
        "examples/captures/crashloop.jsonl",
        "kspan_py/__pycache__/cli.cpython-312.pyc",
        "kspan_py/graph/__pycache__/x.pyc",
        "kspan_py.egg-info/PKG-INFO",
        "deploy/base/kustomization.yaml",
        "Dockerfile",
    ):
        assert dockerignored(path, rules), path


def builder_context(destination: Path) -> Path:
    """The builder stage's WORKDIR after its COPYs, from the context .dockerignore leaves."""
    rules = dockerignore_rules()
    builder = dockerfile_stages()[0]
    workdir = destination / [args for kw, args in builder if kw == "WORKDIR"][-1].lstrip("/")
    workdir.mkdir(parents=True)
    copies = [args.split() for kw, args in builder if kw == "COPY"]
    assert copies
    for *sources, target in copies:
        assert not any(s.startswith("--") for s in sources), "COPY options not emulated"
        for source in sources:
            origin = ROOT / source
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for path in files:
                relative = path.relative_to(ROOT).as_posix()
                if not path.is_file() or dockerignored(relative, rules):
                    continue
                if origin.is_dir():  # its contents go into the target directory
                    goal = workdir / target / path.relative_to(origin)
                elif target.endswith("/") or len(sources) > 1:
                    goal = workdir / target / path.name
                else:
                    goal = workdir / target
                goal.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, goal)
    return workdir


def run_checked(
    command: list[str], timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
        **kwargs,
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean venv with the wheel built as the Dockerfile builds it, installed as it does."""
    tmp = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    source = builder_context(tmp / "context")
    dist = tmp / "dist"
    run_checked(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)], 300
    )
    (wheel,) = dist.glob("kspan_py-*.whl")
    built = time.monotonic()
    environment = tmp / "venv"
    venv.create(environment, with_pip=True, clear=True)
    python = environment / "bin" / "python"
    run_checked([str(python), "-m", "pip", "install", "--only-binary=:all:", str(wheel)], 600)
    installed = time.monotonic()
    print(
        f"wheel built in {built - started:.1f} s, installed with its dependencies in "
        f"{installed - built:.1f} s"
    )
    yield environment


def test_wheel_installs_and_runs_in_a_clean_venv(installed_wheel: Path, tmp_path: Path) -> None:
    bin_dir = installed_wheel / "bin"
    where = run_checked(
        [str(bin_dir / "python"), "-c", "import kspan_py; print(kspan_py.__file__)"],
        60,
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed_wheel), where.stdout
    # Every module imports: the wheel declares all that the package needs.
    every_module = (
        "import importlib, pkgutil, kspan_py\n"
        "for module in pkgutil.walk_packages(kspan_py.__path__, 'kspan_py.'):\n"
        "    importlib.import_module(module.name)"
    )
    run_checked([str(bin_dir / "python"), "-c", every_module], 120, cwd=tmp_path)
    help_text = run_checked([str(bin_dir / "kspan-py"), "run", "--help"], 60, cwd=tmp_path).stdout
    assert "--state-file" in help_text
    demo = run_checked(
        [str(bin_dir / "kspan-py"), "replay"], 120, cwd=tmp_path
    )  # the bundled capture
    assert re.search(r"^trace [0-9a-f]{32}", demo.stdout, re.MULTILINE), demo.stdout
    assert "0 skipped" in demo.stderr


@requires_kubectl
def test_the_collector_recipe_routes_traces_to_tempo_and_records_to_loki() -> None:
    docs = kustomize("collector")
    config_map = next(d for d in find(docs, "ConfigMap") if "config.yaml" in d.get("data", {}))
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            for name in pipeline.get(section, ()):
                assert name in config[section], f"{name} is used but not defined"
    logs = [config["exporters"][name] for name in pipelines["logs"]["exporters"]]
    assert logs and all("loki:3100/otlp" in e["endpoint"] for e in logs)  # Loki's OTLP
    traces = [config["exporters"][name] for name in pipelines["traces"]["exporters"]]
    assert all("tempo" in e["endpoint"].lower() for e in traces)
    args = kspan_container(one(docs, "Deployment", "kspan-py"))["args"]
    assert "--exporter=otlp" in args and "--exporter=otlp-logs" in args


# -- sizing ------------------------------------------------------------------------------------

CLAIMED_RATE = 2_500
"""Events/s the README says one process sustains (Measured live): the manifests must hold it."""
SPAN_IDS_AN_EVENT = 1.2
"""Span ids delivered per event (lifecycle phases and roots besides the event spans): 11.85
million held at 2,500 events/s in benchmarks/state_bench.py."""
_QUANTITY = re.compile(r"(\d+)(Ki|Mi|Gi)")


def _bytes(quantity: str) -> int:
    found = _QUANTITY.fullmatch(quantity)
    assert found, quantity
    return int(found[1]) * {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[found[2]]


def checkpoint_bytes_at(rate: int, tmp_path: Path) -> int:
    """The file a checkpoint of rate span ids/s for the Event TTL takes: a real one of a tenth of
    them written, scaled (its size is a header plus 8 bytes an id, see state_bench.py)."""
    from kspan_py.checkpoint import GENERATION_NS, Checkpoint, CheckpointFile, ExportGate

    ttl_s = 3600 + 60 + GENERATION_NS // 10**9  # the TTL, a minute, one generation
    gate = ExportGate(since_ns=0)
    span = 1
    for second in range(0, ttl_s, 10):
        for _ in range(rate):
            gate.exported.add(span, second * 10**9)
            span += 1
    path = tmp_path / "state"
    assert CheckpointFile(str(path)).save(Checkpoint(0, {"pods": "1"}, gate.exported))
    return path.stat().st_size * 10


def test_the_state_volume_holds_the_checkpoint_at_the_rate_the_readme_claims(
    tmp_path: Path,
) -> None:
    """While the checkpoint is replaced the old file and the new one are both on the volume,
    with the journal (30 s of deliveries, about 45 bytes a span id as JSON)."""
    ids_a_second = int(CLAIMED_RATE * SPAN_IDS_AN_EVENT)
    peak = 2 * checkpoint_bytes_at(ids_a_second, tmp_path) + 30 * ids_a_second * 45
    for deployment in (
        one(source_docs("base/deployment.yaml"), "Deployment"),
        chart_deployment(render_chart()),
    ):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        limit = _bytes(volumes["state"]["emptyDir"]["sizeLimit"])
        assert peak < limit * 0.75, (peak / 2**20, limit / 2**20)  # a quarter to spare


def test_the_chart_sends_log_records_when_asked() -> None:
    plain = kspan_container(one(render_chart({}), "Deployment"))["args"]
    with_logs = kspan_container(one(render_chart({"logs": True}), "Deployment"))["args"]
    assert "--exporter=otlp-logs" not in plain
    assert [a for a in with_logs if a.startswith("--exporter=")] == [
        "--exporter=otlp",
        "--exporter=otlp-logs",
    ]
