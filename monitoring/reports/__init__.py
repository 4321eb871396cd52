"""Monthly compliance reports: per enterprise, per cluster and for the county — HTML, PDF, CSV, JSON.

``envmon report monthly --month YYYY-MM`` → :func:`build_monthly`. Modules, one topic each:

==================  ===================================================================================
:mod:`.period`      the report month (local calendar month), data-review deadline, preliminary/final
:mod:`.gather`      one read of InfluxDB and the SQL store for the month, shared by every scope
:mod:`.figures`     the numbers: 达标判定, 超标倍数, P95, 有效传输率, emissions, outages, cards (pure)
:mod:`.content`     what people read: Chinese labels, local times, charts (:mod:`monitoring.charts`)
:mod:`.render`      HTML (Jinja2) and PDF (WeasyPrint, Noto Sans CJK)
:mod:`.writers`     points.csv, emissions.csv, exceedances.csv, summary.json
:mod:`.versions`    data version (SHA-256 of the inputs), issued versions kept, change lists
:mod:`.build`       orchestration: scopes, forked workers, timings
==================  ===================================================================================
"""

from monitoring.reports.build import BuildResult, Scope, ScopeResult, build_monthly
from monitoring.reports.period import ReportMonth

__all__ = ["BuildResult", "ReportMonth", "Scope", "ScopeResult", "build_monthly"]
