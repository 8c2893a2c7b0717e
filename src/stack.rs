//! `Stack<T, N>`: the one fixed-capacity list of the crate.
//!
//! Everything the daemon needs after the fork lives in plain memory sized before the
//! fork: descriptor sets, group lists, `argv`/`envp` pointer arrays, an error's
//! context, a line being written. One type serves them all, so there is one `push`,
//! one bounds check and one "full" error in the binary.

use core::mem::MaybeUninit;

/// A list of at most `N` items on the stack (or inline in another value).
///
/// `push` fails with [`Full`] instead of growing: callers turn that into an error
/// that names the limit.
pub(crate) struct Stack<T: Copy, const N: usize> {
    len: usize,
    items: [MaybeUninit<T>; N],
}

/// The list is at its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl<T: Copy, const N: usize> Stack<T, N> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Stack {
            len: 0,
            items: [MaybeUninit::uninit(); N],
        }
    }

    /// Appends `item`.
    pub(crate) fn push(&mut self, item: T) -> Result<(), Full> {
        let slot = self.items.get_mut(self.len).ok_or(Full)?;
        *slot = MaybeUninit::new(item);
        self.len += 1;
        Ok(())
    }

    /// Appends every item of `items`, or none when they do not all fit.
    pub(crate) fn extend(&mut self, items: &[T]) -> Result<(), Full> {
        extend(&mut self.items, &mut self.len, items)
    }

    /// Inserts `item` at `index`, shifting the rest up.
    pub(crate) fn insert(&mut self, index: usize, item: T) -> Result<(), Full> {
        // The items and the first free slot (none: full): within this slice the
        // compiler sees every index in bounds, so the shift has no checks or panics.
        let slots = self.items.get_mut(..=self.len).ok_or(Full)?;
        let index = index.min(self.len);
        let mut i = self.len;
        while i > index {
            slots[i] = slots[i - 1];
            i -= 1;
        }
        slots[index] = MaybeUninit::new(item);
        self.len += 1;
        Ok(())
    }

    /// Shortens the list to `len` items (no effect if it is shorter).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The items, in order.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` items were written by `push`, `extend` or `insert`.
        unsafe { initialized(&self.items, self.len) }
    }
}

// The bodies of `extend` and `as_slice` take slices, not arrays, so that every
// capacity of an item type shares one copy of them.

fn extend<T: Copy>(slots: &mut [MaybeUninit<T>], len: &mut usize, items: &[T]) -> Result<(), Full> {
    let end = len.checked_add(items.len()).ok_or(Full)?;
    let free = slots.get_mut(*len..end).ok_or(Full)?;
    for (slot, &item) in free.iter_mut().zip(items) {
        *slot = MaybeUninit::new(item);
    }
    *len = end;
    Ok(())
}

/// The first `len` items of `slots`.
///
/// # Safety
///
/// They must have been written (and `len` may not exceed `slots.len()`, which is
/// checked).
unsafe fn initialized<T: Copy>(slots: &[MaybeUninit<T>], len: usize) -> &[T] {
    let init = &slots[..len];
    // SAFETY: the caller vouches that these items are written, and `MaybeUninit<T>`
    // has the layout of `T`.
    unsafe { &*(init as *const [MaybeUninit<T>] as *const [T]) }
}

impl<T: Copy, const N: usize> Clone for Stack<T, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Copy, const N: usize> Copy for Stack<T, N> {}

impl<T: Copy + core::fmt::Debug, const N: usize> core::fmt::Debug for Stack<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + PartialEq, const N: usize> PartialEq for Stack<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Eq, const N: usize> Eq for Stack<T, N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_until_full() {
        let mut s = Stack::<u8, 3>::new();
        assert_eq!(s.push(1), Ok(()));
        assert_eq!(s.extend(&[2, 3]), Ok(()));
        assert_eq!(s.len(), 3);
        assert_eq!(s.push(4), Err(Full));
        assert_eq!(s.as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn extend_is_all_or_nothing() {
        let mut s = Stack::<u8, 3>::new();
        s.push(1).unwrap();
        assert_eq!(s.extend(&[2, 3, 4]), Err(Full));
        assert_eq!(s.as_slice(), &[1]);
    }

    #[test]
    fn inserts_in_place() {
        let mut s = Stack::<i32, 4>::new();
        s.extend(&[1, 3]).unwrap();
        s.insert(1, 2).unwrap();
        s.insert(9, 4).unwrap();
        assert_eq!(s.as_slice(), &[1, 2, 3, 4]);
        assert_eq!(s.insert(0, 0), Err(Full));
        s.truncate(2);
        assert_eq!(s.as_slice(), &[1, 2]);
    }
}
