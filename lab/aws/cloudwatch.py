"""CloudWatch: GetMetricData and GetMetricStatistics answer percentile statistics (moto 5.2.5 fails on them):
percentiles pNN and percentile ranks PR(low:high) (see metric_stats), from raw values.

Metric-stat queries are answered here (exact dimension match, as CloudWatch does - moto's GetMetricStatistics
matched any superset - and one pass over the data instead of one per period); requests with metric-math
expressions go to moto's own implementation, whose per-period statistics learn the percentiles too.
Other statistics keep moto's values (same definitions, see metric_stats.statistic).
"""
from datetime import timedelta, timezone

from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.core.responses import ActionResult

from lab.aws.metric_stats import is_supported, parse_percentile, parse_percentile_rank, statistic

_ORIGINAL = {}


def _aware(dt):
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _dims_key(dimensions):
    return tuple(sorted((d.name, d.value) if hasattr(d, "name") else (d["Name"], d.get("Value"))
                        for d in dimensions or []))


def _select(backend, namespace, name, dimensions, unit, start, end):
    """Datums of one metric (exact dimensions) in [start, end)."""
    want = _dims_key(dimensions)
    out = []
    for md in backend.get_all_metrics():
        if md.namespace != namespace or md.name != name or _dims_key(md.dimensions) != want:
            continue
        if unit and md.unit != unit:
            continue
        ts = _aware(md.timestamp)
        if start <= ts < end:
            out.append((ts, md))
    return out


def _buckets(datums, start, period):
    """{bucket start: (raw [(value, count)], aggregated [dict], unit)} over period-long buckets from start."""
    buckets = {}
    for ts, md in datums:
        k = int((ts - start).total_seconds() // period)
        raw, agg, _unit = buckets.setdefault(k, ([], [], md.unit))
        if isinstance(md, cw_models.MetricAggregatedDatum):
            agg.append({"SampleCount": md.sample_count, "Sum": md.sum, "Minimum": md.min, "Maximum": md.max})
        else:
            raw.append((md.value, 1))
    return {start + timedelta(seconds=k * period): v for k, v in buckets.items()}


def _check_window(start, end):
    if start > end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")


def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
    if any("Expression" in q for q in queries):
        return _ORIGINAL["get_metric_data"](self, queries=queries, start_time=_aware(start_time),
                                            end_time=_aware(end_time), scan_by=scan_by)
    start = _aware(start_time).replace(microsecond=0)
    end = _aware(end_time).replace(microsecond=0)
    _check_window(start, end)
    results = []
    for query in queries:
        ms = query["MetricStat"]
        metric = ms["Metric"]
        stat = ms["Stat"]
        period = int(ms["Period"])
        if not is_supported(stat):
            raise InvalidParameterValue("The value %s for parameter MetricDataQueries.member.Stat is not valid."
                                        % stat)
        datums = _select(self, metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions"),
                         ms.get("Unit"), start, end)
        points = []
        for bucket_start, (raw, agg, _unit) in _buckets(datums, start, period).items():
            value = statistic(stat, raw, agg)
            if value is not None:
                points.append((bucket_start, value))
        points.sort(reverse=(scan_by == "TimestampDescending"))
        if query.get("ReturnData", True):
            results.append({
                "id": query["Id"],
                "label": query.get("Label") or "%s %s" % (metric.get("MetricName"), stat),
                "values": [v for _, v in points],
                "timestamps": [t for t, _ in points],
                "status_code": "Complete",
            })
    return results


def put_metric_data(self, namespace, metric_data):
    """moto stores request timestamps timezone-aware but a datum without one naive (utcnow); store all aware,
    so moto's own comparisons (metric math) never mix the two."""
    first_new = len(self.metric_data)
    _ORIGINAL["put_metric_data"](self, namespace, metric_data)
    for md in self.metric_data[first_new:]:
        md.timestamp = _aware(md.timestamp)


def get_statistics_for_type(self, stat):
    if parse_percentile(stat) is not None or parse_percentile_rank(stat) is not None:
        return statistic(stat, [(v, 1) for v in self.metric_single_values_list])
    return _ORIGINAL["get_statistics_for_type"](self, stat)


def get_metric_statistics_response(self):
    namespace = self._get_param("Namespace")
    metric_name = self._get_param("MetricName")
    start = _aware(self._get_param("StartTime")).replace(microsecond=0)
    end = _aware(self._get_param("EndTime")).replace(microsecond=0)
    period = self._get_int_param("Period")
    statistics = self._get_param("Statistics", []) or []
    extended = self._get_param("ExtendedStatistics", []) or []
    dimensions = self._get_param("Dimensions", []) or []
    unit = self._get_param("Unit")
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    for stat in extended:
        if not is_supported(stat) or stat in statistics:
            raise InvalidParameterValue("The value %s for parameter ExtendedStatistics is not valid." % stat)
    datums = _select(self.cloudwatch_backend, namespace, metric_name, dimensions, unit, start, end)
    datapoints = []
    for bucket_start, (raw, agg, data_unit) in sorted(_buckets(datums, start, period).items()):
        point = {"Timestamp": bucket_start, "Unit": data_unit or "None"}
        for stat in statistics:
            value = statistic(stat, raw, agg)
            if value is not None:
                point[stat] = value
        ext = {}
        for stat in extended:
            value = statistic(stat, raw, agg)
            if value is not None:
                ext[stat] = value
        if ext:
            point["ExtendedStatistics"] = ext
        datapoints.append(point)
    return ActionResult({"Label": metric_name, "Datapoints": datapoints})


def install():
    if _ORIGINAL:
        return
    _ORIGINAL["get_metric_data"] = cw_models.CloudWatchBackend.get_metric_data
    _ORIGINAL["get_statistics_for_type"] = cw_models.Statistics.get_statistics_for_type
    _ORIGINAL["put_metric_data"] = cw_models.CloudWatchBackend.put_metric_data
    cw_models.CloudWatchBackend.put_metric_data = put_metric_data
    cw_models.CloudWatchBackend.get_metric_data = get_metric_data
    # metric-math queries still go through moto: teach its Statistics the percentiles too
    cw_models.Statistics.get_statistics_for_type = get_statistics_for_type
    cw_responses.CloudWatchResponse.get_metric_statistics = get_metric_statistics_response



