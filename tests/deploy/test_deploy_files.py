"""The files in deploy/ agree with each other and with the application.

Docker, docker compose and Kubernetes each name the container port, the health
paths, the configuration path, the environment variables and the Redis address.
These tests parse every file and check that they name the same things, and that
those things are what the gateway really serves and reads.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.app import create_app
from gateway.cli import _parser
from gateway.config import CONFIG_ENV_VAR, GatewayConfig, parse_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
CONTAINER_CONFIG = DEPLOY / "config" / "gateway.yaml"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
DOCKERIGNORE = REPO / ".dockerignore"

# ${VAR} and ${VAR:-default}, as the configuration loader reads them.
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
URL_IN_TEXT = re.compile(r"https?://[^\s'\"]+")


# -- Dockerfile ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined; comment lines (also those inside
    a continued instruction) and blank lines dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, arguments = " ".join(p for p in parts if p).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a continued instruction"
    return instructions


def command_words(arguments: str) -> list[str]:
    """The words of an exec-form (JSON array) or shell-form command."""
    if arguments.startswith("["):
        words = json.loads(arguments)
        assert isinstance(words, list)
        return [str(w) for w in words]
    return shlex.split(arguments)


def option_value(words: list[str], option: str) -> str | None:
    """The value of ``--option VALUE`` or ``--option=VALUE`` in a command line."""
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


class Dockerfile:
    def __init__(self, path: Path) -> None:
        self.instructions = parse_dockerfile(path.read_text(encoding="utf-8"))
        froms = [i for i, ins in enumerate(self.instructions) if ins.keyword == "FROM"]
        assert froms, "no FROM instruction"
        self.global_args: dict[str, str] = {}
        for ins in self.instructions[: froms[0]]:
            if ins.keyword == "ARG":
                name, _, default = ins.arguments.partition("=")
                self.global_args[name] = default
        self.stages = [
            self.instructions[a:b] for a, b in zip(froms, [*froms[1:], None], strict=True)
        ]
        self.final = self.stages[-1]

    def base_image(self, stage: list[Instruction]) -> str:
        image = stage[0].arguments.split()[0]
        for name, value in self.global_args.items():
            image = image.replace("${" + name + "}", value).replace("$" + name, value)
        return image

    def final_all(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.final if ins.keyword == keyword]

    def final_one(self, keyword: str) -> Instruction:
        found = self.final_all(keyword)
        assert found, f"the final stage has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for ins in self.final_all("ENV"):
            for word in shlex.split(ins.arguments):
                name, _, value = word.partition("=")
                values[name] = value
        return values

    def command(self) -> list[str]:
        """ENTRYPOINT followed by CMD, as the container runs them."""
        entrypoint = self.final_all("ENTRYPOINT")
        cmd = self.final_all("CMD")
        words = command_words(entrypoint[-1].arguments) if entrypoint else []
        return words + (command_words(cmd[-1].arguments) if cmd else [])

    def healthcheck_command(self) -> str:
        arguments = self.final_one("HEALTHCHECK").arguments
        options, found, command = arguments.partition("CMD ")
        assert found, f"HEALTHCHECK has no CMD: {arguments}"
        assert all(o.startswith("--") for o in options.split()), options
        return " ".join(command_words(command.strip()))


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile(DOCKERFILE)


def test_dockerfile_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse_dockerfile(
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS build\n"
        "RUN a \\\n"
        "    # a comment inside the instruction\n"
        " && b \\\n"
        "\n"
        " && c\n"
        'CMD ["serve", \\\n  "--port", "8080"]\n'
    )
    assert [(i.keyword, i.arguments, i.line) for i in parsed] == [
        ("FROM", "python:3.11-slim AS build", 2),
        ("RUN", "a && b && c", 3),
        ("CMD", '["serve", "--port", "8080"]', 8),
    ]


def test_dockerfile_final_image_is_slim_python_built_in_stages(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 2, "expected a build stage and a runtime stage"
    image = dockerfile.base_image(dockerfile.final)
    assert image.startswith("python:3.11") and image.endswith("-slim"), image
    copied_from_build = [
        ins for ins in dockerfile.final_all("COPY") if ins.arguments.startswith("--from=")
    ]
    assert copied_from_build, "the runtime stage copies nothing from the build stage"


def test_dockerfile_runs_as_a_non_root_user(dockerfile: Dockerfile) -> None:
    user = dockerfile.final_one("USER").arguments.split(":")[0]
    assert user not in ("root", "0", ""), user
    # Kubernetes can only check runAsNonRoot against a numeric user.
    assert user.isdigit(), f"USER {user}: use a numeric uid"


def test_dockerfile_healthcheck_uses_python_not_curl(dockerfile: Dockerfile) -> None:
    command = dockerfile.healthcheck_command()
    assert command.split()[0] == "python", command
    assert "urllib.request" in command
    assert "curl" not in command and "wget" not in command


def test_dockerfile_installs_the_project_with_pip(dockerfile: Dockerfile) -> None:
    runs = [ins.arguments for stage in dockerfile.stages for ins in stage if ins.keyword == "RUN"]
    # The project itself, with the ``fast`` extra (uvloop) a production gateway runs on.
    assert any(re.search(r"pip install (\S+ )*'\.\[fast\]'(\s|$)", run) for run in runs), runs
    command = dockerfile.command()
    assert command[:2] == ["trs-gateway", "serve"], command
    assert option_value(command, "--host") == "0.0.0.0", command


def test_dockerfile_command_is_one_the_cli_accepts(dockerfile: Dockerfile) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    program, *arguments = dockerfile.command()
    assert program in pyproject["project"]["scripts"], program
    parsed = _parser().parse_args(arguments)
    assert parsed.command == "serve"
    assert parsed.host == "0.0.0.0"


def test_build_stage_copies_everything_pip_install_needs(dockerfile: Dockerfile) -> None:
    """pyproject.toml, the readme it names and its package directories."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {p.rstrip("*") for p in packages}
    copied = set()
    for ins in dockerfile.stages[0]:
        if ins.keyword == "COPY":
            copied.update(PurePosixPath(s).as_posix() for s in ins.arguments.split()[:-1])
    assert needed <= copied, f"not copied into the build stage: {needed - copied}"


# -- docker compose, Kubernetes -------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def gateway_service(compose: dict[str, Any]) -> dict[str, Any]:
    service = compose["services"]["gateway"]
    assert isinstance(service, dict)
    return service


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def compose_healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """Every manifest in deploy/k8s as (file name, object)."""
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                documents.append((path.name, doc))
    return documents


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    """The manifests by (kind, name)."""
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for filename, doc in k8s_documents():
        if doc["kind"] == "Kustomization":
            continue
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in objects, f"{filename}: {key} defined twice"
        objects[key] = doc
    return objects


def by_kind(k8s: dict[tuple[str, str], dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for (k, _), doc in k8s.items() if k == kind]


@pytest.fixture(scope="module")
def deployment(k8s: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return k8s[("Deployment", "trs-gateway")]


@pytest.fixture(scope="module")
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "expected one container in the gateway pod"
    container: dict[str, Any] = containers[0]
    return container


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def resolve_port(port: int | str, container: dict[str, Any]) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"no container port named {port!r}"
    return int(named[port])


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, f"{url} names no port"
    return port


def url_in(command: str) -> str:
    found = URL_IN_TEXT.findall(command)
    assert len(found) == 1, f"expected one URL in {command!r}"
    return str(found[0])


# -- the application ------------------------------------------------------------------


def load_container_config(text: str | None = None) -> GatewayConfig:
    if text is None:
        text = CONTAINER_CONFIG.read_text(encoding="utf-8")
    return parse_config(text, str(CONTAINER_CONFIG), base_dir=CONTAINER_CONFIG.parent)


@pytest.fixture(scope="module")
def served_paths() -> set[str]:
    """Paths the gateway built from the container configuration routes."""
    app = create_app(load_container_config())
    return {resource.canonical for resource in app.router.resources()}


def test_container_port_is_the_same_everywhere(
    dockerfile: Dockerfile,
    gateway_service: dict[str, Any],
    k8s: dict[tuple[str, str], dict[str, Any]],
    deployment: dict[str, Any],
    container: dict[str, Any],
) -> None:
    ports: dict[str, int] = {}
    exposed = dockerfile.final_one("EXPOSE").arguments.split()
    assert len(exposed) == 1, exposed
    ports["Dockerfile EXPOSE"] = int(exposed[0].split("/")[0])
    command_port = option_value(dockerfile.command(), "--port")
    if command_port is not None:
        ports["Dockerfile CMD --port"] = int(command_port)
    ports["Dockerfile HEALTHCHECK"] = port_of(url_in(dockerfile.healthcheck_command()))

    published = [str(p) for p in gateway_service["ports"]]
    assert len(published) == 1, published
    ports["compose ports (container side)"] = int(published[0].split(":")[-1].split("/")[0])
    ports["compose healthcheck"] = port_of(url_in(compose_healthcheck_command(gateway_service)))

    ports["config server.port"] = load_container_config().server.port

    declared = container["ports"]
    assert len(declared) == 1, declared
    ports["Deployment containerPort"] = declared[0]["containerPort"]
    for probe in ("livenessProbe", "readinessProbe"):
        ports[f"Deployment {probe}"] = resolve_port(container[probe]["httpGet"]["port"], container)
    service = k8s[("Service", "trs-gateway")]
    for entry in service["spec"]["ports"]:
        ports[f"Service targetPort ({entry['name']})"] = resolve_port(
            entry["targetPort"], container
        )
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        ports["prometheus.io/port annotation"] = int(annotations["prometheus.io/port"])

    assert len(set(ports.values())) == 1, f"the container port differs: {ports}"


def test_health_checks_and_probes_use_routes_the_app_serves(
    served_paths: set[str],
    dockerfile: Dockerfile,
    gateway_service: dict[str, Any],
    container: dict[str, Any],
) -> None:
    assert {"/health", "/health/ready"} <= served_paths, sorted(served_paths)
    checks = {
        "Dockerfile HEALTHCHECK": urlsplit(url_in(dockerfile.healthcheck_command())).path,
        "compose healthcheck": urlsplit(url_in(compose_healthcheck_command(gateway_service))).path,
        "livenessProbe": container["livenessProbe"]["httpGet"]["path"],
        "readinessProbe": container["readinessProbe"]["httpGet"]["path"],
    }
    for where, path in checks.items():
        assert path in served_paths, f"{where} asks for {path}, which the gateway does not serve"
    # Liveness must not depend on the upstreams, or an upstream outage restarts every pod.
    assert checks["Dockerfile HEALTHCHECK"] == "/health"
    assert checks["compose healthcheck"] == "/health"
    assert checks["livenessProbe"] == "/health"
    assert checks["readinessProbe"] == "/health/ready"


async def test_health_and_metrics_paths_answer_on_a_running_gateway(
    gateway: Any,
    demo_upstream: dict[str, Any],
    deployment: dict[str, Any],
    container: dict[str, Any],
) -> None:
    client = await gateway([demo_upstream])
    liveness = await client.get(container["livenessProbe"]["httpGet"]["path"])
    assert liveness.status == 200
    assert liveness.content_type == "application/json"
    await liveness.json()
    readiness = await client.get(container["readinessProbe"]["httpGet"]["path"])
    assert readiness.status in (200, 503)
    assert readiness.content_type == "application/json"
    assert isinstance(await readiness.json(), dict)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    metrics = await client.get(annotations["prometheus.io/path"])
    assert metrics.status == 200
    assert metrics.content_type == "text/plain"


def test_prometheus_scrape_path_is_a_route_the_app_serves(
    served_paths: set[str], deployment: dict[str, Any]
) -> None:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] in served_paths


# -- the configuration file -----------------------------------------------------------


def test_config_path_is_the_same_everywhere(
    dockerfile: Dockerfile,
    gateway_service: dict[str, Any],
    k8s: dict[tuple[str, str], dict[str, Any]],
    deployment: dict[str, Any],
    container: dict[str, Any],
) -> None:
    paths: dict[str, str] = {}
    command_config = option_value(dockerfile.command(), "--config")
    if command_config is not None:
        paths["Dockerfile CMD --config"] = command_config
    env = dockerfile.env()
    if CONFIG_ENV_VAR in env:
        paths[f"Dockerfile ENV {CONFIG_ENV_VAR}"] = env[CONFIG_ENV_VAR]
    assert paths, f"the Dockerfile names no configuration (--config or {CONFIG_ENV_VAR})"

    baked = [
        ins.arguments.split()
        for ins in dockerfile.final_all("COPY")
        if not ins.arguments.startswith("--")
    ]
    for words in baked:
        if words[0] == CONTAINER_CONFIG.relative_to(REPO).as_posix():
            paths["Dockerfile COPY of deploy/config/gateway.yaml"] = words[-1]

    mounts = []
    for volume in gateway_service["volumes"]:
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
        else:
            source, target = volume["source"], volume["target"]
        mounts.append(target)
        assert (COMPOSE.parent / source).resolve() == CONTAINER_CONFIG, source
        assert volume.endswith(":ro") if isinstance(volume, str) else volume["read_only"]
    assert len(mounts) == 1, mounts
    paths["compose volume target"] = mounts[0]

    pod = deployment["spec"]["template"]["spec"]
    config_volumes = [v for v in pod["volumes"] if "configMap" in v]
    assert len(config_volumes) == 1, config_volumes
    volume = config_volumes[0]
    configmap = k8s[("ConfigMap", volume["configMap"]["name"])]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount.get("readOnly") is True
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in configmap["data"]]
    (item,) = [i for i in items if i["key"] in configmap["data"]]
    paths["Deployment volumeMount + ConfigMap item"] = f"{mount['mountPath']}/{item['path']}"

    assert len(set(paths.values())) == 1, f"the configuration path differs: {paths}"


@pytest.fixture(scope="module")
def configmap_text(k8s: dict[tuple[str, str], dict[str, Any]]) -> str:
    text: str = k8s[("ConfigMap", "trs-gateway-config")]["data"]["gateway.yaml"]
    return text


def test_configmap_holds_the_container_config(configmap_text: str) -> None:
    assert configmap_text == CONTAINER_CONFIG.read_text(encoding="utf-8"), (
        "deploy/k8s/configmap.yaml and deploy/config/gateway.yaml differ; keep them identical"
    )


@pytest.mark.parametrize("source", ["deploy/config/gateway.yaml", "the ConfigMap"])
def test_container_config_validates_with_its_environment_set(
    monkeypatch: pytest.MonkeyPatch, configmap_text: str, source: str
) -> None:
    monkeypatch.setenv("TRS_GATEWAY_REDIS_URL", "redis://trs-gateway-redis:6379/0")
    monkeypatch.setenv("TRS_GATEWAY_CURSOR_SECRET", "a-shared-secret")
    monkeypatch.setenv("DOCKSTORE_TOKEN", "a-token")
    config = load_container_config(configmap_text if source == "the ConfigMap" else None)
    assert config.cache.redis_url == "redis://trs-gateway-redis:6379/0"
    assert config.cursor_key() == b"a-shared-secret"
    dockstore = config.upstream("dockstore")
    assert dockstore is not None and dockstore.auth is not None
    assert dockstore.auth.as_headers() == {"Authorization": "Bearer a-token"}


@pytest.mark.parametrize("source", ["deploy/config/gateway.yaml", "the ConfigMap"])
def test_container_config_validates_with_its_environment_unset(
    monkeypatch: pytest.MonkeyPatch, configmap_text: str, source: str
) -> None:
    for name in ENV_REF.findall(configmap_text):
        monkeypatch.delenv(name, raising=False)
    config = load_container_config(configmap_text if source == "the ConfigMap" else None)
    assert config.cache.redis_url is None
    dockstore = config.upstream("dockstore")
    assert dockstore is not None and dockstore.auth is not None
    assert dockstore.auth.as_headers() == {}


def test_container_config_without_a_cursor_secret_signs_cursors_with_a_derived_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRS_GATEWAY_CURSOR_SECRET", raising=False)
    config = load_container_config()
    assert config.cursor_key() != b"", "cursors signed with an empty key can be forged"


def test_container_config_listens_on_all_interfaces_and_reads_no_local_files() -> None:
    config = load_container_config()
    assert config.server.host == "0.0.0.0"
    assert [u.name for u in config.upstreams if u.is_file] == []
    assert config.identity.crosswalk is None


# -- environment and secrets ----------------------------------------------------------


def referenced_variables() -> set[str]:
    names = set(ENV_REF.findall(CONTAINER_CONFIG.read_text(encoding="utf-8")))
    assert names >= {"TRS_GATEWAY_REDIS_URL", "TRS_GATEWAY_CURSOR_SECRET"}, names
    return names


def test_compose_provides_every_variable_the_config_references(
    gateway_service: dict[str, Any],
) -> None:
    missing = referenced_variables() - compose_environment(gateway_service).keys()
    assert not missing, f"docker-compose.yml does not set {sorted(missing)}"


def test_deployment_provides_every_variable_the_config_references(
    container: dict[str, Any],
) -> None:
    missing = referenced_variables() - {e["name"] for e in container["env"]}
    assert not missing, f"the Deployment does not set {sorted(missing)}"


def test_every_secret_key_reference_exists_in_the_example_secret(
    k8s: dict[tuple[str, str], dict[str, Any]], container: dict[str, Any]
) -> None:
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert refs, "no variable comes from a Secret"
    for ref in refs:
        secret = k8s.get(("Secret", ref["name"]))
        assert secret is not None, f"no Secret {ref['name']} in deploy/k8s"
        keys = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert ref["key"] in keys, f"Secret {ref['name']} has no key {ref['key']}"
    cursor = next(e for e in container["env"] if e["name"] == "TRS_GATEWAY_CURSOR_SECRET")
    assert not cursor["valueFrom"]["secretKeyRef"].get("optional", False), (
        "replicas without the shared cursor secret reject each other's cursors"
    )


def test_example_secret_holds_placeholders_only() -> None:
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} looks like a real value"


# -- Redis ----------------------------------------------------------------------------


def test_deployment_redis_url_points_at_the_redis_service(
    k8s: dict[tuple[str, str], dict[str, Any]], container: dict[str, Any]
) -> None:
    env = {e["name"]: e for e in container["env"]}
    url = urlsplit(env["TRS_GATEWAY_REDIS_URL"]["value"])
    assert url.scheme == "redis"
    service = k8s.get(("Service", url.hostname or ""))
    assert service is not None, f"no Service named {url.hostname}"
    assert url.port in [p["port"] for p in service["spec"]["ports"]], url.port
    redis = k8s[("Deployment", "trs-gateway-redis")]
    assert selects(service["spec"]["selector"], pod_labels(redis))
    (redis_container,) = redis["spec"]["template"]["spec"]["containers"]
    assert redis_container["image"].startswith("redis:7")
    (entry,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
    assert resolve_port(entry["targetPort"], redis_container) == 6379


def test_compose_redis_url_points_at_the_redis_service(
    compose: dict[str, Any], gateway_service: dict[str, Any]
) -> None:
    url = urlsplit(compose_environment(gateway_service)["TRS_GATEWAY_REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in compose["services"], f"no compose service named {url.hostname}"
    assert compose["services"][url.hostname]["image"].startswith("redis:7")
    assert url.port == 6379
    depends = gateway_service["depends_on"]
    assert depends[url.hostname]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"][url.hostname]


def test_compose_builds_the_image_from_the_dockerfile(gateway_service: dict[str, Any]) -> None:
    build = gateway_service["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


# -- Kubernetes -----------------------------------------------------------------------


def test_gateway_deployment_scales_out_with_probes_as_non_root(
    dockerfile: Dockerfile, deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    assert deployment["spec"]["replicas"] >= 2
    assert "livenessProbe" in container and "readinessProbe" in container
    pod_security = deployment["spec"]["template"]["spec"].get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    image_user = dockerfile.final_one("USER").arguments.split(":")[0]
    assert str(security.get("runAsUser", image_user)) == image_user
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_services_and_budget_select_the_gateway_pods(
    k8s: dict[tuple[str, str], dict[str, Any]], deployment: dict[str, Any]
) -> None:
    labels = pod_labels(deployment)
    for doc in by_kind(k8s, "Deployment"):
        assert selects(doc["spec"]["selector"]["matchLabels"], pod_labels(doc))
    assert selects(k8s[("Service", "trs-gateway")]["spec"]["selector"], labels)
    (budget,) = by_kind(k8s, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)
    redis = k8s[("Deployment", "trs-gateway-redis")]
    assert not selects(k8s[("Service", "trs-gateway")]["spec"]["selector"], pod_labels(redis))


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {"secret.example.yaml"}


@pytest.mark.parametrize(
    ("filename", "document"),
    [(f, d) for f, d in k8s_documents() if d["kind"] != "Kustomization"],
    ids=lambda value: value if isinstance(value, str) else value["kind"],
)
def test_manifest_validates_against_the_kubernetes_schema(
    filename: str, document: dict[str, Any]
) -> None:
    # Bundles the Kubernetes JSON schemas and needs no network. Imported here, not
    # skipped when missing: without it these tests fail rather than pass unchecked.
    import kubernetes_validate

    kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


# -- the build context ----------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) for each line of .dockerignore, in order."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif glob.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif glob[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif glob[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif glob[i] == "[":
                end = glob.index("]", i)
                regex, i = regex + glob[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(glob[i]), i + 1
        patterns.append((excludes, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether docker keeps ``path``: the last pattern matching it or a parent decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    kept = True
    for excludes, regex in dockerignore_patterns():
        if any(regex.fullmatch(c) for c in candidates):
            kept = not excludes
    return kept


def test_dockerignore_pattern_reading() -> None:
    assert in_build_context("gateway/defaults/demo-registry/tools/index.json")
    assert not in_build_context("gateway/trs/__pycache__/handlers.cpython-311.pyc")
    assert not in_build_context("tests/conftest.py")


def test_build_context_holds_what_the_dockerfile_copies_and_little_else(
    dockerfile: Dockerfile,
) -> None:
    sources = [
        source
        for stage in dockerfile.stages
        for ins in stage
        if ins.keyword == "COPY" and not ins.arguments.startswith("--from=")
        for source in ins.arguments.split()[:-1]
    ]
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file"
        files = [p for p in (REPO / source).rglob("*") if p.is_file()] or [REPO / source]
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if "__pycache__" not in relative:
                assert in_build_context(relative), f".dockerignore leaves out {relative}"
    for left_out in (".git/HEAD", "tests/conftest.py", "bench", "trs_gateway.egg-info/PKG-INFO"):
        assert not in_build_context(left_out), left_out
