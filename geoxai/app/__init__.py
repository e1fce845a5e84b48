"""``geoxai app``: a local, offline web explorer of predictions and explanations.

``engine`` does the work (the same functions as ``geoxai explain``), ``server`` is the Starlette
app around it, ``security`` what keeps other web pages out, ``limits`` what a request may set,
``storage`` the uploads (cap, expiry), ``catalog`` the plugin lists and defaults, ``errors`` the
one-line messages, ``geometry`` the clickable world map, ``static/`` the page (plain HTML/JS/CSS/SVG).
"""
