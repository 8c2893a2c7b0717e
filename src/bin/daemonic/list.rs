//! `List<T, N>`: the command's one fixed-capacity list (its arguments, the program's
//! environment, the repeatable options), filled in place.

use core::mem::MaybeUninit;

/// At most `N` items, of which the first `len` are set. Never written beyond them:
/// a big list costs no stack writes until it is used, and it is filled in place,
/// never moved by value (at 8 KiB, each move would be a copy, and the monitor of
/// `--supervise` keeps every stack page its start touched).
pub struct List<T: Copy, const N: usize> {
    len: usize,
    items: [MaybeUninit<T>; N],
}

impl<T: Copy, const N: usize> List<T, N> {
    #[inline(always)]
    pub const fn new() -> Self {
        List {
            len: 0,
            items: [MaybeUninit::uninit(); N],
        }
    }

    /// Appends `item`; `Err` when the list is full.
    pub fn push(&mut self, item: T) -> Result<(), ()> {
        *self.items.get_mut(self.len).ok_or(())? = MaybeUninit::new(item);
        self.len += 1;
        Ok(())
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` items are set, and `MaybeUninit<T>` has `T`'s layout.
        unsafe { core::slice::from_raw_parts(self.items.as_ptr().cast(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_n_items_and_refuses_one_more() {
        let mut list = List::<u8, 2>::new();
        assert_eq!(list.as_slice(), &[]);
        assert_eq!(
            (list.push(1), list.push(2), list.push(3)),
            (Ok(()), Ok(()), Err(()))
        );
        assert_eq!(list.as_slice(), &[1, 2]);
    }
}
