"""The FORCE 2020 lithology case: four captured workflows on six North Sea wells (curation,
learning-data preparation, learning, inference), the Oil & Gas domain graph, and ``make demo``.

Run it with ``python -m examples.force2020 [--quick] [--fresh] [--no-serve]`` from the
repository root (see ``docs/tutorial.md``).
"""
