"""Replay of real 311 exports through the intake channels."""
