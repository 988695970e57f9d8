"""The synthetic monorepo generator and the side-by-side benchmark."""
