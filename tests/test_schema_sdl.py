"""The committed SDL is the public contract: it must match the code."""

from __future__ import annotations

from schema import SDL_PATH, sdl


def test_committed_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text() == sdl(), (
        "schema/schema.graphql is out of date with the code: run `make sdl` and commit it"
    )
