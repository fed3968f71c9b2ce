"""fedrisk.report: the self-contained HTML report of a run directory, its plots, and the live dashboard page.

Reads run directories only; never imports Flower and never trains.
"""

from fedrisk.report.build import build_report as build_report
from fedrisk.report.build import report_html as report_html
from fedrisk.report.rundir import RunData as RunData
from fedrisk.report.rundir import load_run as load_run
from fedrisk.report.summary import summarise as summarise

__all__ = ["RunData", "build_report", "load_run", "report_html", "summarise"]
