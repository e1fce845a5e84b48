"""The job framework: what ``geoxai report`` and ``geoxai quality`` (and any later dataset job)
share. A job kind says what one image's rows are; the framework plans the open work (resume,
``--retry-failed``, shards), runs it on an engine (``local``, ``ray``, or a plugin's), writes the
rows as atomic Parquet parts, shows progress and locks the output folder.

``lock`` (the folder lock), ``store`` (the parts), ``progress`` (done/total on stderr).
"""
