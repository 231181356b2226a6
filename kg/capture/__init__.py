"""Capture: what a training script loads — the client, its scopes, values, metadata, flusher, sinks and spools.

Everything here imports only the standard library (and :mod:`provml.errors`), so that
``import provml`` stays light; framework hooks live in :mod:`provml.capture.hooks` and import their
framework only when used. Events leave this layer as dicts of the wire format (:mod:`provml.events`).
"""
