"""The operator's files agree with the app: every metric the rules and the dashboard read is
exported, every alert points at a panel and a runbook, and compose runs what they expect.

(promtool checks and unit-tests the rules themselves, in .ci/run.)
"""

import json
import re

import pytest
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from puppies.tests.support import ROOT
from users.tests.factories import UserFactory

RULES = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/puppies.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCRAPE = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())

RAW_NAME = re.compile(r"\b(puppies_[a-z0-9_]+)")
RECORDED_NAME = re.compile(r"\b(puppies:[a-z0-9_:]+)")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}


def rules():
    return [rule for group in RULES["groups"] for rule in group["rules"]]


def dashboard_panels():
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    exprs = [rule["expr"] for rule in rules()]
    return exprs + [t["expr"] for panel in dashboard_panels() for t in panel["targets"]]


def exported(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The sample names /metrics can carry, and the (metric, view) pairs it did carry."""
    names, views = set(), set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, [""]))
        for sample in family.samples:
            names.add(sample.name)
            if "view" in sample.labels:
                views.add(sample.labels["view"])
    return names, views


@pytest.mark.django_db
def test_every_metric_of_the_rules_and_the_dashboard_is_exported(client_for, monitor):
    author, reader = UserFactory(), UserFactory()
    assert client_for(reader).post(f"/v1/users/{author.pk}/follow").status_code in (200, 201)
    post = client_for(author).post("/v1/posts", {"content": "woof"}, format="json")
    assert post.status_code == 201
    assert client_for(reader).get("/v1/feed").status_code == 200
    liked = client_for(reader).post(f"/v1/posts/{post.json()['id']}/likes")
    assert liked.status_code in (200, 201, 204)

    names, views = exported(monitor.get("/metrics").content.decode())

    used = {name for expr in expressions() for name in RAW_NAME.findall(expr)}
    assert used, "no metric found in the rules"
    assert sorted(used - names) == []
    # The SLOs' views exist under those names (a renamed URL would silence them).
    used_views = {v for expr in expressions() for v in re.findall(r'view="([^"]+)"', expr)}
    assert sorted(used_views - views) == []


def test_every_recorded_series_read_is_recorded():
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    read = {name for expr in expressions() for name in RECORDED_NAME.findall(expr)}
    assert sorted(read - recorded) == []


def test_every_alert_names_a_dashboard_panel_and_a_runbook_section():
    titles = {panel["title"] for panel in dashboard_panels()}
    runbooks = (ROOT / "docs/runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbooks.splitlines()
        if line.startswith("## ")
    }
    for rule in rules():
        if "alert" not in rule:
            continue
        notes = rule["annotations"]
        assert notes["dashboard"].removeprefix("Puppies / ") in titles, rule["alert"]
        assert notes["runbook_url"].split("#")[1] in anchors, rule["alert"]
        assert rule["alert"] in runbooks, f"{rule['alert']} is in no runbook"
        assert rule["labels"]["severity"] in ("page", "ticket")


def test_compose_runs_one_worker_pool_per_queue_and_prometheus_scrapes_each():
    services = COMPOSE["services"]
    pools = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "puppies", "worker"]:
            queues = command[command.index("--queues") + 1]
            pools[name] = queues
            assert service["environment"]["WORKER_METRICS_PORT"] == "9808"
    assert sorted(pools.values()) == sorted(settings.WORKER_QUEUES)
    (worker_job,) = [job for job in SCRAPE["scrape_configs"] if job["job_name"] == "worker"]
    assert sorted(worker_job["dns_sd_configs"][0]["names"]) == sorted(pools)
    # Every app container counts its processes' metrics in its own folder.
    for name in [*pools, "web", "beat", "migrate"]:
        folder = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert folder in services[name]["tmpfs"]
    network = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert services["web"]["environment"]["METRICS_ALLOWED_NETWORKS"] == network
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_runs_redis_with_aof_always_and_grafana_with_the_dashboard():
    services = COMPOSE["services"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    assert redis[redis.index("--appendfsync") + 1] == "always"
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])

    prometheus = services["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert SCRAPE["rule_files"] == ["rules.yml"]

    mounts = dict(v.rsplit(":", 2)[:2] for v in services["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provisioning = ROOT / "deploy/grafana/provisioning"
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((provisioning / "dashboards/puppies.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    assert {t["datasource"]["uid"] for p in dashboard_panels() for t in p["targets"]} <= uids


def k8s(kind: str) -> dict[str, dict]:
    docs = [
        doc
        for path in sorted((ROOT / "deploy/k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_kubernetes_runs_a_scaled_worker_pool_per_queue_and_one_beat():
    deployments = k8s("Deployment")
    pools = {}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        if command[:4] == ["celery", "-A", "puppies", "worker"]:
            pools[name] = command[command.index("--queues") + 1]
    assert sorted(pools.values()) == sorted(settings.WORKER_QUEUES)
    scaled = k8s("ScaledObject")
    for name, queue in pools.items():
        (trigger,) = scaled[name]["spec"]["triggers"]
        assert (trigger["type"], trigger["metadata"]["listName"]) == ("redis", queue)
        assert scaled[name]["spec"]["scaleTargetRef"]["name"] == name
    assert set(k8s("PodDisruptionBudget")) == {"web", *pools}

    beat = deployments["beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")
    assert "beat" not in k8s("HorizontalPodAutoscaler")

    (hpa,) = k8s("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    web = deployments["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert k8s("Job")["migrate"]["spec"]["template"]["spec"]["containers"][0]["command"][1:3] == [
        "manage.py",
        "migrate",
    ]


def test_the_kubernetes_redis_of_the_like_buffer_fsyncs_every_write():
    (redis,) = k8s("StatefulSet")["redis-durable"]["spec"]["template"]["spec"]["containers"]
    args = redis["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "always"
    config = k8s("ConfigMap")["puppies-config"]["data"]
    assert config["REDIS_URL"] == config["LIKE_BUFFER_REDIS_URL"] == "redis://redis-durable:6379/0"
