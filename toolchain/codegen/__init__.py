"""Stage `emit`: a plan -> C sources for a board, through the jinja2 templates in templates/.
"""
