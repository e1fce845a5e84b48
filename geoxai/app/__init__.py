"""``geoxai app``: a local, offline web explorer of predictions and explanations.

``engine`` does the work (the same functions as ``geoxai explain``), ``server`` is the Starlette
app around it, ``geometry`` the clickable world map, ``static/`` the page (plain HTML/JS/CSS/SVG).
"""
