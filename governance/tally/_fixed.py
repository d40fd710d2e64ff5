"""Fixed-point decimal arithmetic on plain ints, as the STV reference rules prescribe.

Boundary rule: pure library code, standard library only.

A value ``x`` with ``p`` decimal places is held as the int ``x * 10**p``. Products and quotients are
truncated (rounded towards zero, i.e. down for the non-negative values counts use) or rounded up,
exactly as the rule being implemented says, so that every count is reproducible to the last digit.
No floats are involved anywhere.

>>> f = Fixed(4)
>>> third = f.div_down(f.one, 3 * f.one)
>>> f.text(third), f.text(f.mul_up(third, 3 * f.one)), f.text(f.div_up(f.one, 3 * f.one))
('0.3333', '0.9999', '0.3334')
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Fixed"]


@dataclass(frozen=True)
class Fixed:
    """Arithmetic helpers for one precision (number of decimal places)."""

    places: int

    @property
    def one(self) -> int:
        """The scaled representation of 1."""
        return 10**self.places

    def of(self, value: int | Fraction) -> int:
        """Scale an exact number, truncating digits beyond the precision."""
        frac = Fraction(value) * self.one
        return frac.numerator // frac.denominator

    def mul_down(self, a: int, b: int) -> int:
        """``a * b`` truncated."""
        return a * b // self.one

    def mul_up(self, a: int, b: int) -> int:
        """``a * b`` rounded up."""
        return -(-a * b // self.one)

    def div_down(self, a: int, b: int) -> int:
        """``a / b`` truncated."""
        return a * self.one // b

    def div_up(self, a: int, b: int) -> int:
        """``a / b`` rounded up."""
        return -(-a * self.one // b)

    def muldiv_down(self, a: int, b: int, c: int) -> int:
        """``a * b / c`` with a single truncation at the end."""
        return a * b // c

    def exact(self, a: int) -> Fraction:
        """The exact value of a scaled int, as a Fraction."""
        return Fraction(a, self.one)

    def text(self, a: int) -> str:
        """Render with all the decimal places (as reference reports print them)."""
        sign = "-" if a < 0 else ""
        whole, part = divmod(abs(a), self.one)
        return f"{sign}{whole}.{part:0{self.places}d}" if self.places else f"{sign}{whole}"
