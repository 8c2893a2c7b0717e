//! Paths as C strings, converted once, before any fork.
//!
//! Every path the daemon uses after forking must already be a NUL-terminated C string:
//! converting later would allocate. Without `alloc` the caller passes `&CStr`; with
//! `alloc`, `&str` and `String` are converted here; with `std`, `Path` and `OsStr` too.

use core::ffi::CStr;

#[cfg(feature = "alloc")]
use alloc::{ffi::CString, string::String, vec::Vec};

/// A path as a C string, borrowed or (with `alloc`) owned.
///
/// You rarely name this type: the builder methods take anything that implements
/// [`IntoCPath`].
///
/// ```
/// use daemonic::{CPath, IntoCPath};
///
/// let p: CPath<'_> = c"/run/app.pid".into_c_path().unwrap();
/// assert_eq!(p.as_c_str(), c"/run/app.pid");
/// ```
#[derive(Clone, Debug)]
pub enum CPath<'a> {
    /// A borrowed C string.
    Borrowed(&'a CStr),
    /// An owned C string (with the `alloc` feature).
    #[cfg(feature = "alloc")]
    Owned(CString),
}

impl CPath<'_> {
    /// The path as a `&CStr`.
    pub fn as_c_str(&self) -> &CStr {
        match self {
            CPath::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            CPath::Owned(s) => s,
        }
    }

    /// The path's bytes, without the terminating NUL.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.as_c_str().to_bytes()
    }
}

/// The path contains an interior NUL byte, so it cannot be passed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NulError;

/// Conversion into a [`CPath`]: implemented for `&CStr`, and with `alloc` for `CString`,
/// `&str` and `String`, with `std` for `&Path`, `PathBuf`, `&OsStr` and `OsString`.
///
/// ```
/// use daemonic::IntoCPath;
///
/// assert!("/srv/app".into_c_path().is_ok());
/// assert!("/srv/\0app".into_c_path().is_err());
/// ```
pub trait IntoCPath<'a> {
    /// Converts, failing if the path holds a NUL byte.
    fn into_c_path(self) -> Result<CPath<'a>, NulError>;
}

impl<'a> IntoCPath<'a> for &'a CStr {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        Ok(CPath::Borrowed(self))
    }
}

impl<'a> IntoCPath<'a> for CPath<'a> {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        Ok(self)
    }
}

#[cfg(feature = "alloc")]
fn owned<'a>(bytes: Vec<u8>) -> Result<CPath<'a>, NulError> {
    CString::new(bytes).map(CPath::Owned).map_err(|_| NulError)
}

#[cfg(feature = "alloc")]
impl<'a> IntoCPath<'a> for CString {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        Ok(CPath::Owned(self))
    }
}

#[cfg(feature = "alloc")]
impl<'a> IntoCPath<'a> for &str {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        owned(self.into())
    }
}

#[cfg(feature = "alloc")]
impl<'a> IntoCPath<'a> for String {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        owned(self.into_bytes())
    }
}

#[cfg(feature = "std")]
impl<'a> IntoCPath<'a> for &std::ffi::OsStr {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        use std::os::unix::ffi::OsStrExt;
        owned(self.as_bytes().into())
    }
}

#[cfg(feature = "std")]
impl<'a> IntoCPath<'a> for std::ffi::OsString {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        use std::os::unix::ffi::OsStringExt;
        owned(self.into_vec())
    }
}

#[cfg(feature = "std")]
impl<'a> IntoCPath<'a> for &std::path::Path {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        self.as_os_str().into_c_path()
    }
}

#[cfg(feature = "std")]
impl<'a> IntoCPath<'a> for std::path::PathBuf {
    fn into_c_path(self) -> Result<CPath<'a>, NulError> {
        self.into_os_string().into_c_path()
    }
}
