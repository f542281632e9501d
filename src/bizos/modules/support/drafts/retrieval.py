"""What a draft rests on: KB passages and similar resolved tickets."""

from __future__ import annotations
