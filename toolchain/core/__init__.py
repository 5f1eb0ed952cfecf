"""Foundations every stage shares: one-line errors, atomic files and hashes, the tlm.toml
schema, the board registry (boards/*.toml), the project folder, progress output and the
quiet TensorFlow import. Imports nothing else of tlmc.
"""
