"""`logdig dev`: the whole pipeline composed in one process, for a first look.

It sits beside the CLI, not inside `web/`: it wires the collector (web), the flush
(worker) and the analysis together, and the web room never imports the worker.
"""
