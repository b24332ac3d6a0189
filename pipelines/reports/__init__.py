"""Scheduled HTML reports: declared in ``reports/reports.yaml``, gathered from the marts,
rendered with Jinja (charts by Altair + vl-convert), delivered by email over SMTP.

    from pipelines.reports.config import load_reports
    from pipelines.reports.runner import make_report

    result = make_report(load_reports()["weekly"], out_dir=Path("out"))
    result.path                       # out/weekly-2026-02-09_2026-02-15.html
"""
