"""The report: one self-contained HTML page over run directories of any kind ganatomy writes.

::

    from ganatomy.report import write_report
    write_report(["runs/demo"], "runs/demo/report.html")

Run directories are recognised by their files, one :class:`~ganatomy.report.sections.Section` per
kind in ``SECTIONS`` (training, directions, direction pictures, saliency, inversion, inverted images,
LARGE regression, StyleGenes grids, world samples, generated grids); a folder of runs is searched
for them. Images are embedded (base64), training curves are drawn with matplotlib, and the
``<!-- bench:NAME -->`` sections of docs/results.md that concern the runs' kinds close the page.
"""

from ganatomy.report.page import build_report, find_runs, write_report
from ganatomy.report.sections import SECTIONS, ReportContext, Section

__all__ = ["SECTIONS", "ReportContext", "Section", "build_report", "find_runs", "write_report"]
