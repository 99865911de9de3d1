//! A bounded timeline of an unbounded sequence: what a run records once per mask update (the trainer's update
//! records, the app's mask snapshots) must not grow with the run's length, yet should still span the whole run.

use std::ops::Deref;

/// The first item of a sequence, every `stride()`-th after it and the latest, `CAP` at most: when full, every
/// other item goes and the stride doubles, so the kept items stay evenly spaced over everything offered.
#[derive(Clone, Debug, PartialEq)]
pub struct Thinned<T, const CAP: usize> {
    kept: Vec<T>,
    /// Items offered to [`Thinned::push`] so far.
    offered: usize,
    /// log₂ of the stride: item k (in the order offered) is kept when k is a multiple of it, and the latest.
    stride_log2: u32,
}

impl<T, const CAP: usize> Default for Thinned<T, CAP> {
    fn default() -> Self {
        const { assert!(CAP >= 2, "a thinned timeline keeps at least its first and latest items") };
        Thinned { kept: vec![], offered: 0, stride_log2: 0 }
    }
}

impl<T, const CAP: usize> Thinned<T, CAP> {
    pub fn push(&mut self, item: T) {
        // The latest so far goes if it is off the stride: it was kept only for being the latest.
        if self.offered.checked_sub(1).is_some_and(|latest| !latest.is_multiple_of(self.stride())) {
            self.kept.pop();
        }
        self.offered += 1;
        self.kept.push(item);
        if self.kept.len() > CAP
            && let Some(latest) = self.kept.pop()
        {
            // Every item before the latest is number p·stride at position p: keep the even positions.
            let mut p = 0;
            self.kept.retain(|_| {
                p += 1;
                p % 2 == 1
            });
            self.stride_log2 += 1;
            self.kept.push(latest);
        }
    }

    /// 1 until more than `CAP` items were offered; then every `stride()`-th is kept (and the latest).
    pub fn stride(&self) -> usize {
        1 << self.stride_log2
    }

    /// How many items were offered, kept or not.
    pub fn offered(&self) -> usize {
        self.offered
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

impl<T, const CAP: usize> Deref for Thinned<T, CAP> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.kept
    }
}

impl<T, const CAP: usize> Extend<T> for Thinned<T, CAP> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push(item);
        }
    }
}

impl<T, const CAP: usize> FromIterator<T> for Thinned<T, CAP> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut thinned = Self::default();
        thinned.extend(items);
        thinned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long sequence's timeline stays within bounds and still spans it: its first item, every stride-th after
    /// it and the latest, evenly spaced.
    #[test]
    fn a_thinned_timeline_stays_bounded_and_spans_the_sequence() {
        const CAP: usize = 64;
        let all_kept: Thinned<usize, CAP> = (0..CAP).collect();
        assert_eq!((all_kept.to_vec(), all_kept.stride()), ((0..CAP).collect(), 1), "all kept until full");
        for n in [CAP + 1, 250, 251, 1000, 5003] {
            let thinned: Thinned<usize, CAP> = (0..n).collect();
            let (kept, stride) = (thinned.to_vec(), thinned.stride());
            assert_eq!(thinned.offered(), n);
            assert!(kept.len() <= CAP && kept.len() > CAP / 4, "{n}: {}", kept.len());
            assert_eq!(kept.last(), Some(&(n - 1)), "{n}: the latest is kept");
            let on_stride = &kept[..kept.len() - 1];
            assert!(on_stride.iter().enumerate().all(|(i, &k)| k == i * stride), "{n}: stride {stride}: {kept:?}");
            assert!((n - 1) - on_stride.last().unwrap() <= stride, "{n}: no gap before the latest");
        }
        let mut cleared: Thinned<usize, CAP> = (0..1000).collect();
        cleared.clear();
        cleared.push(7);
        assert_eq!((cleared.to_vec(), cleared.stride(), cleared.offered()), (vec![7], 1, 1));
    }
}
