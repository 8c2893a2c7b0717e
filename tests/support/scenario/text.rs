//! How each field of a [`Scenario`](super::Scenario) is written as text and read back.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use daemonic::{Detach, Disposition, Signal};

use super::{Call, Then};

/// A field as [`Scenario::fields`] lists it: its text unless it is its default, and
/// how to set it from a text.
pub(super) trait Field {
    fn put(&self) -> Option<Vec<u8>>;
    fn take(&mut self, text: &[u8]) -> Result<(), String>;
}

/// A value's text.
trait Text: Sized {
    fn to_text(&self) -> Vec<u8>;
    fn from_text(text: &[u8]) -> Result<Self, String>;
}

impl<T: Text> Field for Option<T> {
    fn put(&self) -> Option<Vec<u8>> {
        self.as_ref().map(T::to_text)
    }

    fn take(&mut self, text: &[u8]) -> Result<(), String> {
        *self = Some(T::from_text(text)?);
        Ok(())
    }
}

impl<T: Text + Default + PartialEq> Field for T {
    fn put(&self) -> Option<Vec<u8>> {
        (*self != T::default()).then(|| self.to_text())
    }

    fn take(&mut self, text: &[u8]) -> Result<(), String> {
        *self = T::from_text(text)?;
        Ok(())
    }
}

fn utf8(text: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(text).map_err(|e| e.to_string())
}

/// As `Display` writes it and `FromStr` reads it.
macro_rules! displayed {
    ($($t:ty),*) => {$(
        impl Text for $t {
            fn to_text(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }

            fn from_text(text: &[u8]) -> Result<Self, String> {
                utf8(text)?.parse().map_err(|e| format!("{e}"))
            }
        }
    )*};
}
displayed!(bool, u8, u32, i32, u64);

impl Text for String {
    fn to_text(&self) -> Vec<u8> {
        self.clone().into_bytes()
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        utf8(text).map(str::to_owned)
    }
}

impl Text for PathBuf {
    fn to_text(&self) -> Vec<u8> {
        self.clone().into_os_string().into_vec()
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        Ok(OsString::from_vec(text.to_vec()).into())
    }
}

/// Seconds and nanoseconds, `1.500000000`: exact.
impl Text for Duration {
    fn to_text(&self) -> Vec<u8> {
        format!("{}.{:09}", self.as_secs(), self.subsec_nanos()).into_bytes()
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        let (secs, nanos) = utf8(text)?.split_once('.').ok_or("not SECS.NANOS")?;
        let secs = secs.parse().map_err(|e| format!("{e}"))?;
        if nanos.len() != 9 || !nanos.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("not nine digits of nanoseconds: {nanos:?}"));
        }
        Ok(Duration::new(secs, nanos.parse().unwrap()))
    }
}

/// Comma-separated (no element's text holds a comma).
impl<T: Text> Text for Vec<T> {
    fn to_text(&self) -> Vec<u8> {
        let texts: Vec<Vec<u8>> = self.iter().map(T::to_text).collect();
        texts.join(&b","[..])
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(|&b| b == b',').map(T::from_text).collect()
    }
}

/// `NUMBER:ignore` or `NUMBER:default`.
impl Text for (Signal, Disposition) {
    fn to_text(&self) -> Vec<u8> {
        let disposition = match self.1 {
            Disposition::Ignore => "ignore",
            Disposition::Default => "default",
        };
        format!("{}:{disposition}", self.0.as_raw()).into_bytes()
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        let (number, disposition) = utf8(text)?
            .split_once(':')
            .ok_or("not NUMBER:DISPOSITION")?;
        let number = number.parse().map_err(|e| format!("{e}"))?;
        let signal = Signal::from_named_raw(number).ok_or(format!("no signal {number}"))?;
        match disposition {
            "ignore" => Ok((signal, Disposition::Ignore)),
            "default" => Ok((signal, Disposition::Default)),
            other => Err(format!("no disposition {other:?}")),
        }
    }
}

/// An enum without data, by name.
macro_rules! names {
    ($t:ty { $($name:literal => $value:expr),* $(,)? }) => {
        impl Text for $t {
            fn to_text(&self) -> Vec<u8> {
                match *self {
                    $(v if v == $value => $name,)*
                    other => unreachable!("{other:?} has no name"),
                }
                .as_bytes()
                .to_vec()
            }

            fn from_text(text: &[u8]) -> Result<Self, String> {
                match utf8(text)? {
                    $($name => Ok($value),)*
                    other => Err(format!("no {} {other:?}", stringify!($t))),
                }
            }
        }
    };
}

names!(Call {
    "start" => Call::Start,
    "start_pending" => Call::StartPending,
    "fork" => Call::Fork,
    "restart" => Call::Restart,
    "stop" => Call::Stop,
    "hold_pidfile" => Call::HoldPidfile,
    "churn_pidfile" => Call::ChurnPidfile,
});

names!(Detach {
    "always" => Detach::Always,
    "never" => Detach::Never,
    "auto" => Detach::Auto,
});

/// `ready`, `drop`, `hang` or `fail:CODE`.
impl Text for Then {
    fn to_text(&self) -> Vec<u8> {
        match self {
            Then::Ready => "ready".into(),
            Then::Drop => "drop".into(),
            Then::Hang => "hang".into(),
            Then::Fail(code) => format!("fail:{code}").into_bytes(),
        }
    }

    fn from_text(text: &[u8]) -> Result<Self, String> {
        match utf8(text)? {
            "ready" => Ok(Then::Ready),
            "drop" => Ok(Then::Drop),
            "hang" => Ok(Then::Hang),
            other => match other.strip_prefix("fail:").map(str::parse) {
                Some(Ok(code)) => Ok(Then::Fail(code)),
                _ => Err(format!("no then {other:?}")),
            },
        }
    }
}
