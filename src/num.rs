//! Numbers in messages: written as typed at everyday sizes, in exponent form beyond them, so that a setting of
//! 1e300 is named as `1e300` and not as 301 digits.

use std::fmt;

/// `x` as a message shows it: `0.375`, `2`, `NaN`, `inf`, and `1e300` or `1e-9` outside [1e-4, 1e9).
#[derive(Clone, Copy, Debug)]
pub struct Shown<T>(pub T);

impl<T: Copy + Into<f64> + fmt::Display + fmt::LowerExp> fmt::Display for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.0.into().abs();
        if size == 0.0 || !size.is_finite() || (1e-4..1e9).contains(&size) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shown;

    #[test]
    fn numbers_are_written_as_typed_unless_huge_or_tiny() {
        let cases: [(f64, &str); 8] = [
            (0.375, "0.375"),
            (2.0, "2"),
            (-1.0, "-1"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (1e300, "1e300"),
            (-2.5e-9, "-2.5e-9"),
        ];
        for (x, text) in cases {
            assert_eq!(Shown(x).to_string(), text);
        }
        // A width is an f32 and keeps its own shortest form (4.1, not 4.099999904632568).
        assert_eq!(Shown(4.1f32).to_string(), "4.1");
        assert_eq!(Shown(1e30f32).to_string(), "1e30");
    }
}
