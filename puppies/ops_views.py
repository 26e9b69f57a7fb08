"""Staff status: `GET /v1/ops/summary` (JSON) and the admin page that plots it."""

from django.template import engines
from django.template.response import TemplateResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from puppies import ops


class OpsFiguresSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    outbox_backlog = serializers.FloatField(allow_null=True, help_text="Unprocessed outbox events.")
    fanout_lag_s = serializers.FloatField(
        allow_null=True, help_text="Age of the oldest unprocessed outbox event (s)."
    )
    like_buffer_depth = serializers.FloatField(allow_null=True)
    dead_letters = serializers.FloatField(allow_null=True, help_text="Open ingestion dead letters.")
    replica_lag_s = serializers.FloatField(allow_null=True)
    queues = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, help_text="Tasks waiting, per queue."
    )


class OpsSummarySerializer(serializers.Serializer):
    now = OpsFiguresSerializer()
    history = OpsFiguresSerializer(many=True, help_text="The last hour, a sample a minute.")


class OpsSummaryView(GenericAPIView):
    permission_classes = [IsAdminUser]
    serializer_class = OpsSummarySerializer

    @extend_schema(tags=["ops"], responses=OpsSummarySerializer)
    def get(self, request):
        return Response(ops.summary())


_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block title %}Status | {{ site_title }}{% endblock %}
{% block content %}
<h1>Status</h1>
<p>Now ({{ now.at }}), and the last hour ({{ samples }} samples, one a minute by beat).</p>
<table id="ops-status">
  <thead><tr><th>figure</th><th>now</th><th>last hour</th></tr></thead>
  <tbody>
  {% for row in rows %}
    <tr class="ops-figure" data-figure="{{ row.name }}">
      <td>{{ row.label }}</td><td>{{ row.now|default_if_none:"unavailable" }}</td>
      <td><svg width="240" height="40" viewBox="0 0 240 40" role="img"
               aria-label="{{ row.label }}, last hour">
        <polyline fill="none" stroke="#417690" stroke-width="2" points="{{ row.points }}"/>
      </svg></td>
    </tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}"""
)


def _points(values: list) -> str:
    """An SVG polyline of `values` (None skipped) in a 240 x 40 box, scaled to its max."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return ""
    top = max(v for _, v in known) or 1.0
    step = 240 / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{38 - 36 * v / top:.1f}" for i, v in known)


def admin_status(request):
    """The admin's status page (admin.site.admin_view makes it staff-only)."""
    summary = ops.summary()
    now, samples = summary["now"], summary["history"]
    rows = []
    for field in ops.FIGURES:
        if field == "queues":
            for queue, value in sorted((now["queues"] or {}).items()):
                series = [(s.get("queues") or {}).get(queue) for s in samples]
                rows.append(
                    {
                        "name": f"queue:{queue}",
                        "label": f"queue {queue}",
                        "now": value,
                        "points": _points(series),
                    }
                )
            continue
        series = [s.get(field) for s in samples]
        label = field.replace("_s", " (s)").replace("_", " ")
        rows.append({"name": field, "label": label, "now": now[field], "points": _points(series)})
    context = {"now": now, "rows": rows, "samples": len(samples), "site_title": "Puppies admin"}
    return TemplateResponse(request, _PAGE, context)
