"""Which objects a comparison covers (--include / --exclude), and what is worth a warning about them.

Patterns are the same globs as the thresholds' `match`: tried on the name the
report shows and on the path inside the file. An object is compared when it
matches some include pattern (or none is given) and no exclude pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from relval.workflows.qa.thresholds import matches


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def keeps(self, name: str, path: str | None) -> bool:
        if self.include and not any(matches(p, name, path) for p in self.include):
            return False
        return not any(matches(p, name, path) for p in self.exclude)

    def unmatched(self, names: list[tuple[str, str | None]]) -> list[str]:
        """A warning per include/exclude pattern that matches no object of either side."""
        return [f"--{option} {pattern!r} matches no object"
                for option, patterns in (("include", self.include), ("exclude", self.exclude))
                for pattern in patterns if not any(matches(pattern, n, p) for n, p in names)]


def identical_warning(results) -> list[str]:
    """Warn when compared objects are bit-identical: most often the same file given twice."""
    tested = [r for r in results if r.tests]
    same = sum(1 for r in tested if "identical" in r.flags)
    if not same:
        return []
    if same == len(tested):
        return [f"every compared object is bit-identical in NEW and REF ({same} objects): "
                "the same files compared twice?"]
    return [f"{same} of {len(tested)} compared objects are bit-identical in NEW and REF"]
