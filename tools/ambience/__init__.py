"""Ambience deployment compiler: manifest model, planner, overlay routing, node code generation."""
