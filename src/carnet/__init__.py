"""Carnet."""
