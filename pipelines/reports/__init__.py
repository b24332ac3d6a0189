"""Scheduled HTML reports: declared in ``reports/reports.yaml``, gathered from the marts,
rendered with Jinja (charts by Altair + vl-convert), delivered by email over SMTP.

    from pipelines.reports import load_reports, make_report
    result = make_report(load_reports()["weekly"], out_dir=Path("out"))
    result.path                       # out/weekly-2026-02-09..2026-02-15.html
"""
