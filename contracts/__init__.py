"""Solidity sources, their committed compiled artifacts, and the loader for them (next issue)."""
