"""`tlmc report`: one self-contained HTML page of what a project's build/ folder holds.

It reads only files the stages wrote (build/<stage>/history.json and metrics.json,
quantize/report.json, eval/commands.json, <board>/plan.json, build.json and hil.json) and
trains, converts and builds nothing; a section whose input is missing names the command that
makes it. Modules, each using only those above it:
- sections: the artifacts -> one dict per section (figures, tables, plot data, what is missing)
- plots:    matplotlib (Agg) figures of those dicts as inline SVG
- page:     the page from templates/report.html.j2, written to build/report.html; the JSON form
"""
