"""deploy/kubernetes (issue 14, item 5), offline: each overlay builds with the real kustomize
(deploy/kubernetes/bin/kustomize, built from its Go module); every core resource of each build validates
against the Kubernetes JSON schemas that kubernetes-validate ships (Kubernetes `K8S_VERSION`, strict: an
unknown field is an error); every KEDA ScaledObject against KEDA's CRD schema (the validators that
@kubernetes-models/keda generated from it, deploy/kubernetes/bin/keda-validate); the fields we use in the
custom resources against strict schemas written here, since the API server prunes an unknown field of a
custom resource silently and no registry package ships Strimzi's CRDs (its Maven `io.strimzi:api` jar holds
only classes; the CRD generator is not published). Then the relations: one name per service for folder,
image, Deployment, Service, PodDisruptionBudget and ScaledObject; probes on the service's port; a
ScaledObject per consuming service on its own consumer group and topics, never more replicas than
partitions (shared/events registry); a KafkaTopic per registry topic and DLQ; secrets only from the Secret."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from shared.db.migrate import STATEFUL_SERVICES
from shared.events import registry
from shared.kafka import DLQ_MAX_MESSAGE_BYTES, topic_partitions
from shared.settings import REPO_ROOT, SERVICE_PORTS, Settings
from support import settings_env

K8S = REPO_ROOT / "deploy" / "kubernetes"
KUSTOMIZE = K8S / "bin" / "kustomize"
KEDA_VALIDATE = K8S / "bin" / "keda-validate"
OVERLAYS = ("staging", "production")
K8S_VERSION = "1.33.0"
"""The Kubernetes version the manifests are checked against (kubernetes-validate's schemas)."""
CUSTOM_KINDS = {"ScaledObject", "Kafka", "KafkaNodePool", "KafkaTopic"}
SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/__main__.py"))
SECRET_NAME = "omni311"

# Settings that are secrets but typed `str` (the `SecretStr` fields of every settings class are found by type).
STR_SECRETS = {"OMNI311_PG_DSN", "OMNI311_SMTP_PASSWORD", "OMNI311_IMAP_PASSWORD", "OMNI311_OPEN311_API_KEYS",
               "OMNI311_SURVEY_SECRET", "OMNI311_PORTAL_FORM_SECRET", "OMNI311_RETENTION_PSEUDONYM_KEY",
               "OMNI311_WORKBENCH_OIDC_CLIENT_SECRET"}
SECRET_LOOKING_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PSEUDONYM_KEY|_DSN$", re.IGNORECASE)


def kname(service: str) -> str:
    """A service's Kubernetes name: its Python package's, '-' for '_' (Kubernetes names allow no '_')."""
    return service.replace("_", "-")


# --- building and reading --------------------------------------------------------------------------------


def kustomize_build(folder: Path) -> list[dict[str, Any]]:
    """The documents `kustomize build folder` prints. Raises `AssertionError` with kustomize's message."""
    done = subprocess.run([str(KUSTOMIZE), "build", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"kustomize build {folder.relative_to(REPO_ROOT)}: {done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@cache
def built(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize_build(K8S / "overlays" / overlay))


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def config(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("omni311-config")]
    return cm["data"]


def pod_containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def consumed_topics(service: str) -> set[str]:
    """The registry topics a service's Kafka subscriber names (``s.topic("...")`` in entrypoints/kafka.py)."""
    path = REPO_ROOT / "services" / service / "entrypoints" / "kafka.py"
    if not path.is_file():
        return set()
    text = path.read_text(encoding="utf-8")
    if ".subscriber(" not in text:
        return set()
    return set(re.findall(r"""\.topic\(\s*["']([a-z0-9_.-]+)["']\s*\)""", text))


def keda_validate(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """{name: KEDA CRD schema errors} for ScaledObject documents (deploy/kubernetes/bin/keda-validate)."""
    done = subprocess.run([str(KEDA_VALIDATE)], input=json.dumps(docs), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"keda-validate: {done.stderr}"
    return {r["name"]: r["errors"] for r in json.loads(done.stdout)}


@cache
def known_env() -> set[str]:
    """Every environment variable omni311 reads (support.settings_env, as the compose file's test)."""
    return settings_env.known_env()


@cache
def secret_settings() -> set[str]:
    """The environment variables of every secret setting: `SecretStr` fields, and `STR_SECRETS`."""
    typed = {n for cls in settings_env.settings_classes() for name, f in cls.model_fields.items()
             if SecretStr in (f.annotation, *getattr(f.annotation, "__args__", ()))
             for n in settings_env.env_names(cls, name)}
    return typed | STR_SECRETS


# --- strict schemas of the custom resources' fields we use -----------------------------------------------


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


STR = {"type": "string"}
INT = {"type": "integer"}
INT_STR = {"type": "string", "pattern": r"^[0-9]+$"}
METADATA = closed({"name": STR, "namespace": STR, "labels": {"type": "object"}, "annotations": {"type": "object"}},
                  ("name",))
RESOURCES = closed({"requests": {"type": "object"}, "limits": {"type": "object"}})

SCALED_OBJECT = closed({
    "apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": "ScaledObject"}, "metadata": METADATA,
    "spec": closed({
        "scaleTargetRef": closed({"name": STR}, ("name",)),
        "minReplicaCount": {"type": "integer", "minimum": 1},
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "pollingInterval": INT, "cooldownPeriod": INT,
        "advanced": closed({"horizontalPodAutoscalerConfig": closed({"behavior": closed({
            "scaleDown": closed({"stabilizationWindowSeconds": INT, "policies": {"type": "array", "items": closed(
                {"type": {"enum": ["Pods", "Percent"]}, "value": INT, "periodSeconds": INT})}})})})}),
        "triggers": {"type": "array", "minItems": 1, "items": closed({
            "type": {"const": "kafka"}, "name": STR,
            "metadata": closed({
                "bootstrapServers": STR, "consumerGroup": STR, "topic": STR, "lagThreshold": INT_STR,
                "activationLagThreshold": INT_STR, "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                "allowIdleConsumers": {"enum": ["true", "false"]}},
                ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"))}, ("type", "metadata"))},
    }, ("scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers")),
}, ("apiVersion", "kind", "metadata", "spec"))

KAFKA_CONFIG = {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}}
KAFKA = closed({
    "apiVersion": {"const": "kafka.strimzi.io/v1beta2"}, "kind": {"const": "Kafka"}, "metadata": METADATA,
    "spec": closed({
        "kafka": closed({
            "version": STR, "metadataVersion": STR,
            "listeners": {"type": "array", "items": closed(
                {"name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"}, "port": INT,
                 "type": {"enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]},
                 "tls": {"type": "boolean"}}, ("name", "port", "type", "tls"))},
            "config": KAFKA_CONFIG}, ("listeners",)),
        "kafkaExporter": closed({"groupRegex": STR, "topicRegex": STR}),
        "entityOperator": closed({"topicOperator": closed({"resources": RESOURCES})}),
    }, ("kafka",)),
}, ("apiVersion", "kind", "metadata", "spec"))

KAFKA_NODE_POOL = closed({
    "apiVersion": {"const": "kafka.strimzi.io/v1beta2"}, "kind": {"const": "KafkaNodePool"}, "metadata": METADATA,
    "spec": closed({
        "replicas": INT,
        "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}, "minItems": 1},
        "storage": closed({"type": {"const": "jbod"}, "volumes": {"type": "array", "items": closed(
            {"id": INT, "type": {"enum": ["persistent-claim", "ephemeral"]}, "size": STR, "deleteClaim": {
                "type": "boolean"}, "kraftMetadata": {"const": "shared"}}, ("id", "type"))}}, ("type", "volumes")),
        "resources": RESOURCES,
        "jvmOptions": closed({"-Xms": STR, "-Xmx": STR}),
    }, ("replicas", "roles", "storage")),
}, ("apiVersion", "kind", "metadata", "spec"))

KAFKA_TOPIC = closed({
    "apiVersion": {"const": "kafka.strimzi.io/v1beta2"}, "kind": {"const": "KafkaTopic"}, "metadata": METADATA,
    "spec": closed({"topicName": STR, "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767}, "config": KAFKA_CONFIG},
                   ("partitions", "replicas")),
}, ("apiVersion", "kind", "metadata", "spec"))

CUSTOM_SCHEMAS = {"ScaledObject": SCALED_OBJECT, "Kafka": KAFKA, "KafkaNodePool": KAFKA_NODE_POOL,
                  "KafkaTopic": KAFKA_TOPIC}


def custom_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[doc["kind"]])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# --- validation ------------------------------------------------------------------------------------------


def test_the_validators_refuse_what_they_must() -> None:
    """Each check below can fail: a misspelt field, a wrong type, an unknown field of a custom resource."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "replica": 2,
                           "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                               {"name": "x", "image": "x"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    so = next(iter(of_kind(built("staging"), "ScaledObject").values()))
    wrong = json.loads(json.dumps(so))
    wrong["spec"]["maxReplicaCount"] = "6"
    del wrong["spec"]["triggers"][0]["metadata"]
    assert keda_validate([wrong])[so["metadata"]["name"]], "KEDA's schema took a string replica count"
    typo = json.loads(json.dumps(so))
    typo["spec"]["triggers"][0]["metadata"]["consumergroup"] = "case"
    assert custom_errors(typo), "an unknown trigger field (pruned by the API server) went unnoticed"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_core_resource_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    errors: list[str] = []
    kinds: set[str] = set()
    for doc in built(overlay):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kinds.add(doc["kind"])
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {e}")
    assert errors == []
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "PersistentVolumeClaim"} <= kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_validates(overlay: str) -> None:
    docs = built(overlay)
    scaled = list(of_kind(docs, "ScaledObject").values())
    assert {n: e for n, e in keda_validate(scaled).items() if e} == {}, "against KEDA's CRD schema"
    errors = {f"{d['kind']}/{d['metadata']['name']}": custom_errors(d) for d in docs if d["kind"] in CUSTOM_KINDS}
    assert {k: v for k, v in errors.items() if v} == {}, "fields the strict schemas here do not know"


# --- one name per service --------------------------------------------------------------------------------


def test_every_service_has_one_name_for_folder_image_deployment_service_and_budget() -> None:
    assert set(SERVICE_PORTS) == set(SERVICES)
    folders = {p.name for p in (K8S / "base").iterdir() if p.is_dir()}
    assert folders == {kname(s) for s in SERVICES}, "one folder per service under deploy/kubernetes/base"
    for overlay in OVERLAYS:
        docs = built(overlay)
        deployments, services, budgets = (of_kind(docs, k) for k in ("Deployment", "Service", "PodDisruptionBudget"))
        assert set(deployments) == set(services) == set(budgets) == {kname(s) for s in SERVICES}, overlay
        for service in SERVICES:
            name = kname(service)
            deployment, svc = deployments[name], services[name]
            labels = {"app.kubernetes.io/name": name}
            assert deployment["spec"]["selector"]["matchLabels"] == labels
            assert svc["spec"]["selector"] == labels
            assert budgets[name]["spec"]["selector"]["matchLabels"] == labels
            assert budgets[name]["spec"].get("maxUnavailable") == 1
            for container in pod_containers(deployment):
                image = container["image"]
                assert re.fullmatch(rf"([a-z0-9.-]+(:[0-9]+)?/)?omni311/{name}:[A-Za-z0-9._-]+", image), (
                    f"{overlay} {name}: image {image} is not omni311/{name}, pinned to a tag")
            container = main_container(deployment)
            assert container["name"] == name
            assert container["command"] == ["python", "-m", f"services.{service}"]
            assert container["ports"] == [{"name": "http", "containerPort": SERVICE_PORTS[service],
                                           "protocol": "TCP"}]
            assert svc["spec"]["ports"] == [{"name": "http", "port": SERVICE_PORTS[service],
                                             "targetPort": "http", "protocol": "TCP"}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_resources_and_migrations(overlay: str) -> None:
    for name, deployment in of_kind(built(overlay), "Deployment").items():
        service = name.replace("-", "_")
        container = main_container(deployment)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/readyz")):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, f"{name} {probe}"
        for c in pod_containers(deployment):
            resources = c["resources"]
            for what in ("cpu", "memory"):
                assert what in resources["requests"] and what in resources["limits"], f"{name}/{c['name']} {what}"
            assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"])
            assert quantity(resources["requests"]["cpu"]) <= quantity(resources["limits"]["cpu"])
        init = deployment["spec"]["template"]["spec"].get("initContainers", [])
        if service in STATEFUL_SERVICES:
            (migrate,) = init
            assert migrate["command"] == ["python", "-m", "shared.db.migrate", service], name
        else:
            assert init == [], f"{name} owns no schema: nothing to migrate"


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (``250m``, ``1``, ``512Mi``, ``1Gi``) as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


# --- autoscaling on lag ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_consuming_service_scales_on_its_own_groups_lag_up_to_the_partitions(overlay: str) -> None:
    docs = built(overlay)
    cfg = config(docs)
    settings = Settings(topic_prefix=cfg.get("OMNI311_TOPIC_PREFIX", ""))
    partitions = {t.name: t.partitions for t in registry().topics.values()}
    scaled = of_kind(docs, "ScaledObject")
    consumers = {s: consumed_topics(s) for s in SERVICES if consumed_topics(s)}
    assert len(consumers) >= 11, f"subscribers not found in services/*/entrypoints/kafka.py: {consumers}"
    assert set(scaled) == {kname(s) for s in consumers}, "a ScaledObject per consuming service, none for others"
    deployments = of_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        # A count in the Deployment would undo KEDA's at every apply (and rebalance the group each time).
        assert ("replicas" in deployment["spec"]) == (name not in scaled), f"{name}: replicas vs KEDA"
    for service, topics in consumers.items():
        so = scaled[kname(service)]["spec"]
        assert so["scaleTargetRef"]["name"] == kname(service)
        triggers = so["triggers"]
        assert {t["metadata"]["topic"] for t in triggers} == {settings.topic(t) for t in topics}, service
        for trigger in triggers:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["consumerGroup"] == settings.group(service), f"{service}: not its consumer group"
            assert meta["bootstrapServers"] == cfg["OMNI311_KAFKA_BOOTSTRAP"], f"{service}: other brokers"
            assert int(meta["lagThreshold"]) > 0
        fewest = min(partitions[t] for t in topics)
        assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"] <= fewest, (
            f"{service}: at most {fewest} replicas (partitions of its topics), not {so['maxReplicaCount']}")


# --- the production Kafka --------------------------------------------------------------------------------


def test_production_runs_a_three_broker_kraft_kafka_with_every_registry_topic_and_dlq() -> None:
    docs = built("production")
    cfg = config(docs)
    (kafka,) = of_kind(docs, "Kafka").values()
    cluster = kafka["metadata"]["name"]
    assert kafka["metadata"]["annotations"] == {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}
    pools = [p for p in of_kind(docs, "KafkaNodePool").values() if p["metadata"]["labels"]["strimzi.io/cluster"] == cluster]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3 and controllers == 3
    broker_config = kafka["spec"]["kafka"]["config"]
    assert broker_config["default.replication.factor"] == 3 and broker_config["min.insync.replicas"] == 2
    assert broker_config["offsets.topic.replication.factor"] == 3
    plain = [x for x in kafka["spec"]["kafka"]["listeners"] if not x["tls"]]
    assert cfg["OMNI311_KAFKA_BOOTSTRAP"] in {f"{cluster}-kafka-bootstrap:{x['port']}" for x in plain}
    assert cfg["OMNI311_KAFKA_REPLICATION_FACTOR"] == "3" and cfg["OMNI311_KAFKA_MIN_INSYNC_REPLICAS"] == "2"

    wanted = topic_partitions(Settings(topic_prefix=cfg.get("OMNI311_TOPIC_PREFIX", "")))
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind(docs, "KafkaTopic").values()}
    assert {n: t["spec"]["partitions"] for n, t in topics.items()} == wanted, "registry topics and DLQs"
    assert all(n.endswith(".dlq") for n, p in wanted.items() if p == 1)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster, name
        assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2, name
        if name.endswith(".dlq"):  # a dead letter is a record of up to 1 MiB plus its error headers
            assert topic["spec"]["config"]["max.message.bytes"] == DLQ_MAX_MESSAGE_BYTES, name


# --- settings and secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_come_from_the_configmap_and_secrets_only_from_the_secret(overlay: str) -> None:
    docs = built(overlay)
    known = known_env()
    secrets = secret_settings()
    cfg = config(docs)
    assert not {k for k in cfg if k in secrets or SECRET_LOOKING_NAME.search(k)}, "a secret in the ConfigMap"
    assert not set(cfg) - known - {"OMNI311_TOPIC_PREFIX"}, "ConfigMap keys no code reads"
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are made by ops, never kept here"
    referenced: set[str] = set()
    for name, deployment in of_kind(docs, "Deployment").items():
        for container in pod_containers(deployment):
            assert [e["configMapRef"]["name"] for e in container["envFrom"]] == [
                d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"], name
            for env in container.get("env", []):
                var = env["name"]
                assert var in known, f"{name}: {var} is read by no code"
                if var in secrets or SECRET_LOOKING_NAME.search(var):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    assert ref and "value" not in env, f"{name}: {var} is not taken from a Secret"
                    assert ref["name"] == SECRET_NAME and ref["key"] == var, f"{name}: {var}"
                    referenced.add(var)
    assert secrets <= referenced, f"secret settings no Deployment takes from the Secret: {secrets - referenced}"


SECRET_VALUES = (
    re.compile(r"://[^/\s:@]+:[^@\s]+@"),  # credentials in a URL (a DSN with its password)
    re.compile(r"(?i)^\s*[A-Z0-9_]*(PASSWORD|SECRET|TOKEN|API_KEYS?|PSEUDONYM_KEY|_DSN)\s*="),  # a .env line
    re.compile(r"(?i)(password|secret|token|api_?key)\s*[:=]\s*['\"]?[A-Za-z0-9+/_-]{6,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)


def inline_values(node: Any) -> list[str]:
    """Names of ``{name: <secret-looking>, value: ...}`` mappings (an env entry written inline) in a YAML tree."""
    if isinstance(node, list):
        return [n for item in node for n in inline_values(item)]
    if not isinstance(node, dict):
        return []
    here = [node["name"]] if isinstance(node.get("name"), str) and SECRET_LOOKING_NAME.search(node["name"]) \
        and "value" in node else []
    return here + [n for value in node.values() for n in inline_values(value)]


def test_no_secret_looking_value_is_written_in_the_manifests() -> None:
    """Every file under deploy/kubernetes, built or not (a patch, an .env file of a generator)."""
    found = []
    for path in sorted(K8S.rglob("*")):
        if not path.is_file() or "node_modules" in path.parts or path.suffix not in (".yaml", ".yml", ".env", ""):
            continue
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if any(p.search(line) for p in SECRET_VALUES):
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
        if path.suffix in (".yaml", ".yml"):
            found += [f"{path.relative_to(REPO_ROOT)}: {name} written inline"
                      for doc in yaml.safe_load_all(text) for name in inline_values(doc)]
    assert found == []
