//! A stand-in for `Daemon::sd_notify`, for `no_std_full` and `no_std_caps`.

/// `.sd_notify(bool)` is being added to the library; until it lands this no-op
/// stands in (today `$NOTIFY_SOCKET` is always used when set), and once it does, the
/// inherent method wins over this trait's and rustc warns that this one is unused.
// TODO(integrator): delete this trait once `Daemon::sd_notify` exists.
pub trait SdNotifyUntilTheLibraryHasIt: Sized {
    fn sd_notify(self, _on: bool) -> Self {
        self
    }
}

impl SdNotifyUntilTheLibraryHasIt for daemonic::Daemon<'_> {}
